"""PostgreSQL tells every process when the file facts it keeps may have changed
(packages/stored_file_cache.py): a NOTIFY when a version or package row is deleted,
a table truncated, or a kept column updated. Nothing on SQLite, where no process
keeps them."""

from django.db import migrations

from packages.stored_file_cache import CHANNEL

# The columns services.stored_file reads: the version's, and the package's name.
VERSION_COLUMNS = (
    "package_id", "normalized_version", "sha512", "size", "file_name", "pushed_at",
    "readme_path", "icon_path",
)  # fmt: skip
FUNCTION = "packages_stored_files_changed"


def _row(prefix: str, columns) -> str:
    return "(" + ", ".join(f"{prefix}.{column}" for column in columns) + ")"


FORWARD = [
    f"""CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', '');
        RETURN NULL;
    END
    $$""",
    # Per row, so that the download counts' updates, which change no kept column,
    # notify nobody.
    f"""CREATE TRIGGER packages_version_files_changed
    AFTER UPDATE ON packages_packageversion FOR EACH ROW
    WHEN ({_row("OLD", VERSION_COLUMNS)} IS DISTINCT FROM {_row("NEW", VERSION_COLUMNS)})
    EXECUTE FUNCTION {FUNCTION}()""",
    f"""CREATE TRIGGER packages_version_files_gone
    AFTER DELETE OR TRUNCATE ON packages_packageversion FOR EACH STATEMENT
    EXECUTE FUNCTION {FUNCTION}()""",
    f"""CREATE TRIGGER packages_package_renamed
    AFTER UPDATE ON packages_package FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION {FUNCTION}()""",
    f"""CREATE TRIGGER packages_package_gone
    AFTER DELETE OR TRUNCATE ON packages_package FOR EACH STATEMENT
    EXECUTE FUNCTION {FUNCTION}()""",
]
BACKWARD = [
    "DROP TRIGGER packages_version_files_changed ON packages_packageversion",
    "DROP TRIGGER packages_version_files_gone ON packages_packageversion",
    "DROP TRIGGER packages_package_renamed ON packages_package",
    "DROP TRIGGER packages_package_gone ON packages_package",
    f"DROP FUNCTION {FUNCTION}()",
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("packages", "0009_search_totals"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD)),
    ]
