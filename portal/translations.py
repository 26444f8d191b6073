"""Compile locale/*/LC_MESSAGES/django.po into the .mo files Django reads.

Babel, not GNU gettext's msgfmt, so that a machine without gettext builds them
too. ``make run`` and ``make test`` run ``python -m portal.translations`` first;
the .mo files are build output and not committed. Fuzzy entries are left out,
as msgfmt would.
"""

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "django"


def catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    return sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def compile_catalogs(locale_dir: Path = LOCALE_DIR, *, only_stale: bool = False) -> list[Path]:
    """Write each catalog's .mo beside it; returns the .mo files written."""
    written = []
    for po_path in catalogs(locale_dir):
        mo_path = po_path.with_suffix(".mo")
        if only_stale and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parents[1].name, domain=DOMAIN)
        # Written beside, then renamed: a server reading the old file never sees half a new one.
        partial = mo_path.with_suffix(".mo.partial")
        with partial.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        partial.replace(mo_path)
        written.append(mo_path)
    return written


def main() -> int:
    for mo_path in compile_catalogs():
        print(f"compiled {mo_path.relative_to(LOCALE_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
