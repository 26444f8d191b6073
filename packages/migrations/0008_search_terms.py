"""Search terms (packages.SearchTerm): the postings one-word searches read."""

import django.db.models.deletion
from django.db import migrations, models

from packages import search


def fill_terms(apps, schema_editor):
    """Every package's entry again (its ID words are now split as its terms are) and
    its terms."""
    search.rebuild_entries(
        None,
        package_model=apps.get_model("packages", "Package"),
        version_model=apps.get_model("packages", "PackageVersion"),
        entry_model=apps.get_model("packages", "SearchEntry"),
        term_model=apps.get_model("packages", "SearchTerm"),
    )


class Migration(migrations.Migration):

    dependencies = [
        ('packages', '0007_ownershiprequest'),
    ]

    operations = [
        migrations.CreateModel(
            name='SearchTerm',
            fields=[
                ('pk', models.CompositePrimaryKey('entry', 'term', blank=True, editable=False, primary_key=True, serialize=False)),
                ('term', models.TextField()),
                ('rank', models.PositiveSmallIntegerField()),
                ('downloads', models.BigIntegerField(default=0)),
                ('id_lower', models.TextField()),
                ('visible_stable', models.BooleanField(default=False)),
                ('visible_prerelease', models.BooleanField(default=False)),
                ('visible_semver2', models.BooleanField(default=False)),
                ('visible_all', models.BooleanField(default=False)),
                ('entry', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='packages.searchentry')),
            ],
            options={
                'verbose_name': 'search term',
                'verbose_name_plural': 'search terms',
                'indexes': [models.Index(fields=['term', 'rank', '-downloads', 'id_lower', 'visible_stable', 'visible_prerelease', 'visible_semver2', 'visible_all', 'entry'], name='packages_search_term_order')],
            },
        ),
        migrations.RunPython(fill_terms, migrations.RunPython.noop, elidable=True),
    ]
