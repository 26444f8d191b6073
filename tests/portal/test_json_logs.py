"""Request IDs, and LOG_FORMAT=json: one JSON object a line, never a key value."""

import io
import json
import logging
import re
import urllib.parse

import pytest

from portal.logging import ENVIRON_KEY, JsonFormatter
from tests.feed.conftest import multipart
from tests.nupkgs import make_nupkg
from tests.portal.gunicorn_portal import PASSWORD, USERNAME, running_portal

GENERATED = re.compile(r"[0-9a-f]{32}")


class TestRequestId:
    def test_each_answer_carries_a_new_one(self, client):
        first = client.get("/health/live")["X-Request-ID"]
        second = client.get("/health/live")["X-Request-ID"]
        assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
        assert first != second

    def test_a_clients_own_is_ignored_without_a_trusted_proxy(self, client):
        answer = client.get("/health/live", headers={"X-Request-ID": "chosen-by-client"})
        assert GENERATED.fullmatch(answer["X-Request-ID"])

    def test_a_trusted_proxys_is_kept(self, client, settings):
        settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
        answer = client.get("/health/live", headers={"X-Request-ID": "lb-7f3a:42"})
        assert answer["X-Request-ID"] == "lb-7f3a:42"

    @pytest.mark.parametrize("given", ["", "has space", "x" * 129, "line\nbreak", "é"])
    def test_a_strange_one_is_replaced(self, client, settings, given):
        settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
        answer = client.get("/health/live", headers={"X-Request-ID": given})
        assert GENERATED.fullmatch(answer["X-Request-ID"])


@pytest.fixture
def json_lines():
    """What the root logger writes, formatted as LOG_FORMAT=json formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


class TestJsonLines:
    def test_a_line_logged_during_a_request_names_it(self, client, db, json_lines, make_user):
        answer = client.generic(
            "PUT",
            "/api/v2/package/?apiKey=ngk_query_secret",
            *multipart(make_nupkg()),
            headers={"X-NuGet-ApiKey": "ngk_not_a_real_key_value"},
        )
        assert answer.status_code == 403
        lines = [line for line in json_lines() if line["logger"] == "django.request"]
        assert lines, json_lines()
        line = lines[-1]
        assert line["level"] == "WARNING"
        assert line["request_id"] == answer["X-Request-ID"]
        assert line["method"] == "PUT"
        assert line["path"] == "/api/v2/package/"
        assert line["time"].endswith("+00:00")
        text = json.dumps(json_lines())
        assert "ngk_not_a_real_key_value" not in text
        assert "query_secret" not in text

    def test_outside_a_request_no_request_fields(self, json_lines):
        logging.getLogger("portal.test").warning("plain %s", "words")
        [line] = [line for line in json_lines() if line["logger"] == "portal.test"]
        assert line["message"] == "plain words"
        assert "request_id" not in line

    def test_exceptions_stay_on_one_line(self, json_lines):
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("portal.test").exception("failed")
        [line] = [line for line in json_lines() if line["logger"] == "portal.test"]
        assert "ValueError: boom" in line["exception"]


# --- Under gunicorn -------------------------------------------------------------


def _form_value(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html)[1]


@pytest.mark.slow
def test_gunicorn_json_log_after_the_key_flows(tmp_path):
    """Sign in, create a key on the page, push with it, push with wrong keys: every
    line gunicorn and the portal write is JSON, and none holds a key or password."""
    with running_portal(
        tmp_path, workers=2, LOG_FORMAT="json", HEALTH_ACCESS_LOG="false"
    ) as portal:
        user_id = portal.server_side("setup")["user_id"]
        browser = portal.opener()
        sign_in = portal.request("/users/account/LogOn", opener=browser).body.decode()
        form = {
            "csrfmiddlewaretoken": _form_value(sign_in, "csrfmiddlewaretoken"),
            "login": USERNAME,
            "password": PASSWORD,
        }
        answer = portal.request(
            "/users/account/LogOn",
            method="POST",
            data=urllib.parse.urlencode(form).encode(),
            opener=browser,
        )
        assert answer.status == 200, answer.body[:2000]
        page = portal.request("/account/apikeys", opener=browser).body.decode()
        form = {
            "csrfmiddlewaretoken": _form_value(page, "csrfmiddlewaretoken"),
            "form_token": _form_value(page, "form_token"),
            "name": "Logged",
            "expires_in": "90",
            "owner": USERNAME,
            "push": "on",
            "push_type": "package:push",
            "globs": "Contoso.*",
        }
        created = portal.request(
            "/account/apikeys",
            method="POST",
            data=urllib.parse.urlencode(form, doseq=True).encode(),
            opener=browser,
        )
        shown = re.search(r'aria-label="API key value" value="([^"]+)"', created.body.decode())
        assert shown, re.findall(r'class="errorlist[^>]*>.*?</ul>', created.body.decode(), re.S)
        key = shown[1]

        body, content_type = multipart(make_nupkg())
        pushed = portal.request(
            "/api/v2/package/",
            method="PUT",
            data=body,
            headers={"X-NuGet-ApiKey": key, "Content-Type": content_type},
        )
        assert pushed.status == 201, pushed
        wrong = key[:-6] + "AAAAAA"
        for bad in (wrong, "not-a-key"):
            answer = portal.request(
                "/api/v2/package/?apiKey=" + bad,
                method="PUT",
                data=body,
                headers={"X-NuGet-ApiKey": bad, "Content-Type": content_type},
            )
            assert answer.status == 403
        assert portal.request("/health/ready").status == 200

    log = portal.log()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert len(lines) > 10
    for secret in (key, wrong, "not-a-key", PASSWORD):
        assert secret not in log
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line

    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert not [line for line in access if line["path"].startswith("/health/")]
    [push_line] = [line for line in access if line.get("status") == 201]
    assert push_line["request_id"] == pushed.headers["X-Request-ID"]
    assert push_line["method"] == "PUT"
    assert push_line["path"] == "/api/v2/package/"
    assert push_line["route"] == "feed:push"
    assert push_line["user_id"] == user_id
    assert push_line["key_hint"].endswith(key[-4:])
    assert push_line["duration"] > 0
    page_lines = [line for line in access if line.get("route") == "apikeys:list"]
    assert page_lines and all(line["user_id"] == user_id for line in page_lines)


@pytest.mark.parametrize(
    "path",
    [
        "/users/account/password/reset/key/1-sekrit-token/",
        "/users/account/confirm-email/sekrit-token/",
    ],
)
def test_a_one_time_token_in_the_path_is_not_logged(client, db, path):
    response = client.get(path)
    fields = response.wsgi_request.META[ENVIRON_KEY]
    assert fields["path"].startswith("users/account/")
    assert "sekrit" not in json.dumps(fields)
