"""Cursors for the statements sent on every request of a kind.

At the bottom of the layers, beside the audit log, so that every app can use it.
"""

from django.db import connection


def prepared_cursor():
    """A cursor for a statement that one kind of request always sends (a download's
    lookup, the API key check). On PostgreSQL (``portal.postgresql``) the statement
    is prepared once the connection has run it a few times, and the server runs it
    from then on without parsing and planning it; elsewhere, ``connection.cursor()``
    (SQLite's driver keeps its own cache of compiled statements)."""
    prepared = getattr(connection, "prepared_cursor", None)
    return prepared() if prepared is not None else connection.cursor()
