"""Search totals (packages.SearchTotal): the empty query's count, kept with the entries."""

from django.db import migrations, models

from packages import search


def count_totals(apps, schema_editor):
    search.totals_recount(
        entry_model=apps.get_model("packages", "SearchEntry"),
        total_model=apps.get_model("packages", "SearchTotal"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("packages", "0008_search_terms"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchTotal",
            fields=[
                ("visibility", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("packages", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "search total",
                "verbose_name_plural": "search totals",
            },
        ),
        migrations.RunPython(count_totals, migrations.RunPython.noop, elidable=True),
    ]
