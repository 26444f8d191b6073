"""Clients that send their request headers slowly must not take the site down.

A hundred connections from one address each send a request line and then one
header line every couple of seconds, never finishing. Meanwhile the home page
and pushes (with a Content-Length and chunked, as nuget.exe sends them) from
another client must still answer within a second. With gunicorn's sync
workers five such connections were enough to stop the site.
"""

import contextlib
import http.client
import socket
import threading
import time

import pytest

from tests.nupkgs import make_nupkg, multipart

pytestmark = pytest.mark.serving

SLOW_CLIENTS = 100
DRIP_SECONDS = 2  # between two header lines of one slow client
PROMPT = 1.0  # seconds within which every probe must be answered
ROUNDS = 3


@contextlib.contextmanager
def slow_clients(host: str, port: int, count: int):
    """``count`` connections that never finish their headers; yields them once all
    are open and have sent a line. One thread drips a header line into each, every
    DRIP_SECONDS, until the block ends; then every socket is closed."""
    connections = []
    stop = threading.Event()
    try:
        for _ in range(count):
            connection = socket.create_connection((host, port), timeout=5)
            connection.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n")
            connections.append(connection)

        def drip():
            line = 0
            while not stop.wait(DRIP_SECONDS):
                line += 1
                for connection in connections:
                    # A server that gave up on the connection is fine too.
                    with contextlib.suppress(OSError):
                        connection.sendall(f"X-Slow-{line}: {'a' * 20}\r\n".encode())

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        # Let the server accept them and start waiting on their headers.
        time.sleep(DRIP_SECONDS + 0.5)
        yield connections
        stop.set()
        dripper.join(timeout=DRIP_SECONDS + 5)
    finally:
        stop.set()
        for connection in connections:
            connection.close()


def timed(host: str, port: int, method: str, path: str, **request) -> tuple[int, float]:
    """(status, seconds from connect to the answer's last byte); status 0 when no
    answer came within PROMPT."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=PROMPT)
    try:
        connection.request(method, path, **request)
        response = connection.getresponse()
        response.read()
        status = response.status
    except OSError:  # refused, reset or timed out
        status = 0
    finally:
        connection.close()
    return status, time.monotonic() - started


def test_home_page_and_pushes_answer_while_a_hundred_clients_send_headers_slowly(portal):
    key = portal.server_side("setup")["key"]
    answers = []
    with slow_clients(portal.host, portal.port, SLOW_CLIENTS):
        for turn in range(ROUNDS):
            answers.append(("GET /", *timed(portal.host, portal.port, "GET", "/")))
            for chunked in (False, True):
                body, content_type = multipart(make_nupkg("Serving.Slow", f"1.{turn}.{chunked:d}"))
                headers = {"X-NuGet-ApiKey": key, "Content-Type": content_type}
                if chunked:
                    # http.client sends Transfer-Encoding: chunked for an iterable body.
                    body = iter([body[: len(body) // 2], body[len(body) // 2 :]])
                    headers["Transfer-Encoding"] = "chunked"
                status, seconds = timed(
                    portal.host,
                    portal.port,
                    "PUT",
                    "/api/v2/package/",
                    body=body,
                    headers=headers,
                    encode_chunked=chunked,
                )
                answers.append((f"push chunked={chunked}", status, seconds))
    expected = [(name, 200 if name == "GET /" else 201) for name, _, _ in answers]
    assert [(name, status) for name, status, _ in answers] == expected, answers
    assert max(seconds for _, _, seconds in answers) < PROMPT, answers
