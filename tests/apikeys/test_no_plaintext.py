"""A key's value lives in one response only: not in any table, log line, email or session."""

import logging
import re

import pytest
from django.contrib.sessions.models import Session
from django.db import connection

from apikeys import keys
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=False)


def every_cell():
    """Every value of every row of every table, as text."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for cell in row:
                    if isinstance(cell, bytes | memoryview):
                        cell = bytes(cell).decode("latin-1")
                    yield table, str(cell)


def test_the_value_and_its_secret_are_nowhere_but_in_the_response(
    client, make_user, caplog, mailoutbox, django_capture_on_commit_callbacks
):
    make_user("alice")
    caplog.set_level(logging.DEBUG)
    client.post("/users/account/LogOn", {"login": "alice", "password": PASSWORD})
    page = client.get("/account/apikeys").content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', page)[1]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/account/apikeys",
            {"form_token": token, "name": "CI", "expires_in": "90", "owner": "alice",
             "push": "on", "push_type": "package:push", "globs": "*"},
        )  # fmt: skip
    value = re.search(r'aria-label="API key value" value="([^"]+)"', response.content.decode())[1]
    secret = value[len("ngk_") : -6]
    assert len(secret) == 32

    cells = list(every_cell())
    assert [(table, cell) for table, cell in cells if secret in cell] == []
    # The scan does see the keys table: the digest is there.
    assert ("apikeys_apikey", keys.digests(value)[0]) in cells
    for session in Session.objects.all():
        assert secret not in str(session.get_decoded())
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert secret not in message.subject + message.body
    assert value[-4:] in message.body  # the hint, which is not secret
    assert all(secret not in record.getMessage() for record in caplog.records)
    assert secret not in str(response.cookies)
