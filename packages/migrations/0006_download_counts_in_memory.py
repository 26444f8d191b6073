"""Download counts kept in memory (packages.downloads): no PackageDownload row each."""

from collections import Counter

from django.db import migrations
from django.db.models import F


def fold_recorded_downloads(apps, schema_editor):
    """Downloads recorded as rows and not yet counted: counted before the table goes."""
    download_model = apps.get_model("packages", "PackageDownload")
    version_model = apps.get_model("packages", "PackageVersion")
    package_model = apps.get_model("packages", "Package")
    entry_model = apps.get_model("packages", "SearchEntry")
    by_version = Counter(download_model.objects.values_list("version_id", flat=True))
    by_package = Counter()
    for version_pk, package_pk in version_model.objects.filter(pk__in=list(by_version)).values_list(
        "pk", "package_id"
    ):
        version_model.objects.filter(pk=version_pk).update(
            download_count=F("download_count") + by_version[version_pk]
        )
        by_package[package_pk] += by_version[version_pk]
    for package_pk, count in by_package.items():
        package_model.objects.filter(pk=package_pk).update(
            download_count=F("download_count") + count
        )
        entry_model.objects.filter(package_id=package_pk).update(downloads=F("downloads") + count)


class Migration(migrations.Migration):
    dependencies = [
        ("packages", "0005_version_order"),
    ]

    operations = [
        migrations.RunPython(fold_recorded_downloads, migrations.RunPython.noop, elidable=True),
        migrations.DeleteModel(name="PackageDownload"),
    ]
