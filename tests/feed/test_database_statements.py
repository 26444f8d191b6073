"""What a download asks of PostgreSQL: its lookup prepared, the health check silent.

The health check's other half, a connection the server ended being replaced before
the next request, is in tests/serving/test_database_connections.py.
"""

import os

import pytest
from django.db import connection

from tests import servers
from tests.nupkgs import make_nupkg

NUPKG = "/v3/flatcontainer/prepared.lookup/1.0.0/prepared.lookup.1.0.0.nupkg"


@pytest.fixture
def postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements and the socket check are PostgreSQL's")


@pytest.fixture
def pushed(postgresql, push, owner, make_key):
    _, key = make_key(owner)
    assert push(make_nupkg("Prepared.Lookup", "1.0.0"), key).status_code == 201


def prepared_lookups() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall() if "packages_packageversion" in row[0]]


def test_a_download_lookup_is_prepared_after_a_connection_has_made_it_five_times(pushed, client):
    for made in range(1, 8):
        assert client.get(NUPKG).status_code == 200
        # psycopg prepares a statement after its fifth run (prepare_threshold); from
        # then on the server runs it without parsing and planning it again.
        assert len(prepared_lookups()) == (made > 5), made
    assert "$1" in prepared_lookups()[0]  # bound on the server, not pasted into the text


def test_the_health_check_of_an_idle_connection_sends_nothing(postgresql):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last statement'")
    pid = connection.connection.info.backend_pid
    assert connection.is_usable()
    with servers.admin_connection(os.environ["DATABASE_URL"]) as admin:
        last = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        assert last.fetchone()[0] == "SELECT 'the last statement'"


def test_a_prepared_lookup_is_logged_with_its_parameters(pushed, client, django_assert_num_queries):
    for _ in range(7):  # before and after it is prepared
        with django_assert_num_queries(1) as captured:
            assert client.get(NUPKG).status_code == 200
        assert "= 'prepared.lookup'" in captured.captured_queries[0]["sql"]
