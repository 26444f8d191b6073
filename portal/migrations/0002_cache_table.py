"""The table of the database cache (CACHES in portal/settings.py without REDIS_URL).

Created here rather than by a separate `manage.py createcachetable`, so that every
place that migrates a database (make run, a deployment, the tests' servers) gets
it, and created whatever CACHES says today, so that dropping REDIS_URL later finds
it in place. createcachetable skips a table that exists.
"""

from django.core.management import call_command
from django.db import migrations

TABLE = "portal_cache"


def create_table(apps, schema_editor):
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):

    dependencies = [
        ("portal", "0001_user_preference"),
    ]

    operations = [
        migrations.RunPython(create_table, drop_table, elidable=False),
    ]
