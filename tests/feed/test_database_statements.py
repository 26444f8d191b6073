"""What a download asks of the database: one query, prepared on PostgreSQL, and a
health check that sends nothing.

The health check's other half, a connection the server ended being replaced before
the next request, is in tests/soak/test_database_outage.py.
"""

import os

import pytest
from django.db import connection

from tests import servers
from tests.nupkgs import make_nupkg

NUPKG = "/v3/flatcontainer/prepared.lookup/1.0.0/prepared.lookup.1.0.0.nupkg"


@pytest.fixture
def pushed(push, owner, make_key):
    _, key = make_key(owner)
    assert push(make_nupkg("Prepared.Lookup", "1.0.0"), key).status_code == 201


def prepared_lookups() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall() if "packages_packageversion" in row[0]]


def test_a_download_makes_one_query_which_postgresql_prepares_after_five(
    pushed, client, django_assert_num_queries
):
    for made in range(1, 8):
        with django_assert_num_queries(1) as captured:
            assert client.get(NUPKG).status_code == 200
        # Logged with its parameters, before and after it is prepared.
        assert "= 'prepared.lookup'" in captured.captured_queries[0]["sql"]
        if connection.vendor == "postgresql":
            # psycopg prepares a statement after its fifth run (prepare_threshold);
            # from then on the server runs it without parsing and planning it again.
            assert len(prepared_lookups()) == (made > 5), made
    if connection.vendor == "postgresql":
        assert "$1" in prepared_lookups()[0]  # bound on the server, not in the text


@pytest.mark.django_db
def test_the_health_check_of_an_idle_connection_sends_nothing():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last statement'")
    if connection.vendor == "postgresql":
        pid = connection.connection.info.backend_pid
        assert connection.is_usable()
        with servers.admin_connection(os.environ["DATABASE_URL"]) as admin:
            last = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
            assert last.fetchone()[0] == "SELECT 'the last statement'"
    else:
        sent = []
        connection.connection.set_trace_callback(sent.append)
        try:
            assert connection.is_usable()
        finally:
            connection.connection.set_trace_callback(None)
        assert sent == []
