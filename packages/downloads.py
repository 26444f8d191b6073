"""Download counts: written without contention, folded into the counters in batches.

A download inserts one ``PackageDownload`` row. Inserts never wait for each
other, where ``UPDATE ... SET download_count = download_count + 1`` on the same
row would queue every concurrent download of a popular package behind one lock.
``aggregate()`` moves the rows into ``PackageVersion.download_count`` and
``Package.download_count`` and deletes them. It runs at most once a minute per
cache (so once a minute across servers that share Redis), from the request
that records a download; ``manage.py aggregate_downloads`` runs it on demand,
for example from a timer so that counts catch up after traffic stops.

Counts therefore lag by up to a minute (longer only while no downloads
arrive and no timer runs) and lose nothing on a crash: a row is committed
before the download is answered, and a row is deleted in the same transaction
that adds it to the counters.
"""

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Max

from audit import metrics
from packages.models import Package, PackageDownload, PackageVersion
from packages.search import search_downloads_add

AGGREGATE_INTERVAL = 60  # seconds
_AGGREGATE_KEY = "packages:downloads:aggregated"


def record(version: PackageVersion) -> None:
    """Count one download of ``version``."""
    PackageDownload.objects.create(version_id=version.pk)
    metrics.download_counted()
    # cache.add is atomic: of the processes sharing the cache, one per interval wins.
    if cache.add(_AGGREGATE_KEY, True, timeout=AGGREGATE_INTERVAL):
        aggregate()


def aggregate() -> int:
    """Fold the recorded downloads into the counters; returns how many were folded.

    Safe to run in several processes at once: the DELETE claims the rows, and
    only what a process deleted is added, in the same transaction.
    """
    last = PackageDownload.objects.aggregate(last=Max("pk"))["last"]
    if last is None:
        return 0
    pending = (
        PackageDownload.objects.filter(pk__lte=last)
        .values_list("version_id", "version__package_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    folded = 0
    for version_id, package_id, _count in pending:
        with transaction.atomic():
            rows = PackageDownload.objects.filter(version_id=version_id, pk__lte=last)
            claimed, _ = rows.delete()
            if not claimed:
                continue
            PackageVersion.objects.filter(pk=version_id).update(
                download_count=F("download_count") + claimed
            )
            Package.objects.filter(pk=package_id).update(
                download_count=F("download_count") + claimed
            )
            search_downloads_add(package_pk=package_id, count=claimed)
        folded += claimed
    return folded
