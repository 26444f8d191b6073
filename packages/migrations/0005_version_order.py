"""Versions ordered by the database: PackageVersion.sort_key (packages.versions.sort_string)."""

from django.db import migrations, models

import packages.models
from packages import versions


def fill_sort_keys(apps, schema_editor):
    version_model = apps.get_model("packages", "PackageVersion")
    rows = version_model.objects.only("pk", "normalized_version").order_by("pk")
    batch = []
    for row in rows.iterator(chunk_size=1_000):
        row.sort_key = versions.sort_string(row.normalized_version)
        batch.append(row)
        if len(batch) == 1_000:
            version_model.objects.bulk_update(batch, ["sort_key"])
            batch = []
    version_model.objects.bulk_update(batch, ["sort_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("packages", "0004_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="packageversion",
            name="sort_key",
            field=packages.models.VersionSortField(
                default="", editable=False, max_length=255, verbose_name="sort key"
            ),
            preserve_default=False,
        ),
        migrations.RunPython(fill_sort_keys, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="packageversion",
            index=models.Index(fields=["package", "sort_key"], name="packages_version_order"),
        ),
    ]
