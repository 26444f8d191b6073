"""Requests per second over HTTP, gunicorn on loopback driven by wrk, on one database.

Five rows, each a ratio to the ceiling: (a) ``GET /v3/index.json``; (b) a push
refused for scope (a key without push scope: the full key check, a 403, no file
written); (c) pushes of a small package, every request a new version, so 201s;
(d) ``GET /account/apikeys`` for a signed-in user with 100 keys; (e) an empty Django
view, ``bench/empty``, the ceiling. gunicorn reads ``gunicorn.conf.py`` (2 x cores + 1
gevent workers) with ``DJANGO_SETTINGS_MODULE=benchmarks.bench_settings``, the
portal's settings with ``benchmarks.urls_ceiling`` adding the empty view.

    DATABASE_URL= python -m benchmarks.bench_http --json var/bench/http-sqlite.json

``make bench`` runs it on SQLite and PostgreSQL and merges the figures. Needs wrk
(``apt-get install wrk``); without it the rows say so.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchmarks import common
from benchmarks.bench_push import (
    BenchmarkError,
    nupkgs,
    server_env,
    serving,
)

POSTGRES_DATABASE = "portal_bench_http"
THREADS, CONNECTIONS, SECONDS = 2, 8, 5
PAGE_KEYS = 100
PUSH_ID = "Bench.Http"
REFUSED_ID = "Bench.Refused"
# More distinct versions than the pushes 5 s can take, so that every push is a 201.
PUSH_BODIES = 4_000
BOUNDARY = "benchboundary0123456789"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
WRK_TIMEOUT = 60

# Every script ends with this: the figures as one JSON line on stdout.
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "non_2xx_3xx": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""

_GET = """
wrk.method = "GET"
{headers}
"""

_PUT_ONE = """
wrk.method = "PUT"
wrk.headers["Content-Type"] = {content_type}
wrk.headers["X-NuGet-ApiKey"] = {key}
local f = assert(io.open({path}, "rb"))
wrk.body = f:read("*a")
f:close()
"""

# Each thread loads every n-th body (n = threads) and sends each once: a new version
# per request. setup() numbers the threads; init() runs in each thread afterwards.
_PUT_MANY = """
local counter = 0
setup = function(thread)
  thread:set("number", counter)
  counter = counter + 1
end

local bodies, next_body = {{}}, 1
init = function(args)
  for i = number + 1, {count}, {threads} do
    local f = assert(io.open(string.format("{folder}/%d.bin", i), "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
end

local headers = {{["Content-Type"] = {content_type}, ["X-NuGet-ApiKey"] = {key}}}
request = function()
  local body = bodies[next_body]
  -- Past the last body the versions repeat: the answers turn 409 and are counted.
  next_body = next_body % #bodies + 1
  return wrk.format("PUT", "/api/v2/package/", headers, body)
end
"""


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal here


def body_for(nupkg: bytes) -> bytes:
    head = (
        f"--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: form-data; name="package"; filename="package.nupkg"\r\n\r\n'
    ).encode()
    return head + nupkg + f"\r\n--{BOUNDARY}--\r\n".encode()


# --- The data ---------------------------------------------------------------------------


def populate() -> dict:
    """A confirmed user with a push key for Bench.*, an unlist-only key, and
    PAGE_KEYS keys in all; a session for them; returns keys and the cookie."""
    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from apikeys import keys
    from apikeys.models import ApiKey
    from apikeys.scopes import Action
    from apikeys.services import api_key_create
    from packages.models import Package

    owner = get_user_model().objects.create_user(username="bench", email="bench@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, primary=True, verified=True)
    Package.objects.create(name=REFUSED_ID).owners.add(owner)

    def create(name, action):
        return api_key_create(
            owner=owner,
            name=name,
            actions=[action],
            package_ids=[],
            globs=["Bench.*"],
            expiration_days=365,
            actor=owner,
        )[1]

    push_key = create("push", Action.PUSH.value)
    unlist_key = create("unlist only", Action.UNLIST.value)
    now = timezone.now()
    ApiKey.objects.bulk_create(
        ApiKey(
            owner=owner,
            name=f"bench {i}",
            digest=keys.digests(value)[0],
            hint=keys.hint(value),
            actions=[Action.PUSH.value],
            package_ids=[],
            globs=[f"Contoso.Lib{i}.*"],
            created_at=now,
            expires_at=now + timedelta(days=365),
            expiration_days=365,
        )
        for i, value in enumerate(keys.generate() for _ in range(PAGE_KEYS - 2))
    )
    # A real session row in the server's database, as signing in would leave.
    client = Client()
    client.force_login(owner, backend=settings.AUTHENTICATION_BACKENDS[0])
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}"
    return {"push_key": push_key, "unlist_key": unlist_key, "cookie": cookie}


# --- wrk ----------------------------------------------------------------------------------


def wrk(port: int, path: str, script: str, folder: Path, name: str) -> dict:
    script_path = folder / f"{name}.lua"
    script_path.write_text(script + _DONE)
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{SECONDS}s",
        "-s",
        str(script_path),
        f"http://127.0.0.1:{port}{path}",
    ]
    finished = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, timeout=WRK_TIMEOUT, check=False
    )
    match = re.search(r"^WRKJSON (.*)$", finished.stdout, re.MULTILINE)
    if match is None:
        raise BenchmarkError(f"wrk said:\n{finished.stdout}\n{finished.stderr}")
    figures = json.loads(match.group(1))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def probe(port: int, method: str, path: str, headers: dict, body: bytes | None = None) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def measure(scratch: Path) -> dict:
    import gunicorn

    from packages.models import PackageVersion

    data = populate()
    home, packages_dir, bodies_dir = scratch / "home", scratch / "packages", scratch / "bodies"
    for folder in (home, bodies_dir):
        folder.mkdir()
    env = {**server_env(home, packages_dir), "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings"}
    built = nupkgs(PUSH_ID, [f"1.0.{i}" for i in range(PUSH_BODIES + 1)], 0)
    for number, nupkg in enumerate(built):
        (bodies_dir / f"{number}.bin").write_bytes(body_for(nupkg))
    refused_body = bodies_dir / "refused.bin"
    refused_body.write_bytes(body_for(nupkgs(REFUSED_ID, ["1.0.0"], 0)[0]))
    cookie = data["cookie"]
    scenarios = [
        ("ceiling", "(e) empty Django view, the ceiling", "/bench/empty", _GET.format(headers="")),
        ("index", "(a) GET /v3/index.json", "/v3/index.json", _GET.format(headers="")),
        (
            "refused",
            "(b) push refused for scope (403)",
            "/api/v2/package/",
            _PUT_ONE.format(
                content_type=_lua(CONTENT_TYPE),
                key=_lua(data["unlist_key"]),
                path=_lua(str(refused_body)),
            ),
        ),
        (
            "push",
            "(c) push of a small package, a new version each (201)",
            "/api/v2/package/",
            _PUT_MANY.format(
                count=PUSH_BODIES,
                threads=THREADS,
                folder=bodies_dir,
                content_type=_lua(CONTENT_TYPE),
                key=_lua(data["push_key"]),
            ),
        ),
        (
            "page",
            f"(d) GET /account/apikeys, {PAGE_KEYS} keys",
            "/account/apikeys",
            _GET.format(headers=f'wrk.headers["Cookie"] = {_lua(cookie)}'),
        ),
    ]
    log_path = scratch / "gunicorn.log"
    rows = []
    with serving(env, log_path) as server:
        workers = len(server.workers())
        port = server.port
        # The checks that make the figures mean what they say.
        first_push = probe(
            port,
            "PUT",
            "/api/v2/package/",
            {"Content-Type": CONTENT_TYPE, "X-NuGet-ApiKey": data["push_key"]},
            (bodies_dir / f"{PUSH_BODIES}.bin").read_bytes(),  # the package's first version
        )
        checks = {
            "ceiling": probe(port, "GET", "/bench/empty", {}),
            "index": probe(port, "GET", "/v3/index.json", {}),
            "refused": probe(
                port,
                "PUT",
                "/api/v2/package/",
                {"Content-Type": CONTENT_TYPE, "X-NuGet-ApiKey": data["unlist_key"]},
                refused_body.read_bytes(),
            ),
            "push": first_push,
            "page": probe(port, "GET", "/account/apikeys", {"Cookie": cookie}),
        }
        expected = {"ceiling": 200, "index": 200, "refused": 403, "push": 201, "page": 200}
        if checks != expected:
            raise BenchmarkError(f"probe answers {checks}, expected {expected}:\n{server.log()}")
        for row_id, label, path, script in scenarios:
            figures = wrk(port, path, script, scratch, row_id)
            figures.update(id=row_id, label=label, path=path)
            rows.append(figures)
            print(
                f"  {label:<56} {figures['rps']:>8.1f} req/s  p50 "
                f"{figures['p50_us'] / 1000:.1f} ms  p99 {figures['p99_us'] / 1000:.1f} ms  "
                f"non-2xx/3xx {figures['non_2xx_3xx']}",
                flush=True,
            )
    ceiling = next(row["rps"] for row in rows if row["id"] == "ceiling")
    for row in rows:
        row["vs_ceiling"] = row["rps"] / ceiling
    refused_files = sum(1 for p in packages_dir.rglob("*") if REFUSED_ID.lower() in p.name.lower())
    log = log_path.read_text(errors="replace")
    wrk_version = subprocess.run(
        ["wrk", "--version"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return {
        "client": "wrk",
        "wrk": (wrk_version or ["wrk"])[0].strip(),
        "threads": THREADS,
        "connections": CONNECTIONS,
        "seconds": SECONDS,
        "cores": os.cpu_count(),
        "workers": workers,
        "gunicorn": gunicorn.__version__,
        "page_keys": PAGE_KEYS,
        "push_bodies": PUSH_BODIES,
        "nupkg_bytes": len(built[0]),
        "pushed_versions": PackageVersion.objects.filter(package__name=PUSH_ID).count(),
        "refused_files": refused_files,
        "server_errors": log.count("Traceback"),
        "rows": rows,
    }


def main() -> None:
    options = common.parser(__doc__.splitlines()[0]).parse_args()
    common.setup_django()
    from django.conf import settings
    from django.db import connection

    print(f"HTTP with wrk on {common.VENDOR_NAMES[connection.vendor]}:", flush=True)
    if shutil.which("wrk") is None:
        common.database_unavailable("http", RuntimeError("wrk is not installed"), options.json)
        return
    scratch = Path(tempfile.mkdtemp(prefix="http-", dir=settings.VAR_DIR))
    began = time.perf_counter()
    try:
        figures = common.measure_on_throwaway_database(
            "http", lambda: measure(scratch), options.json, postgres_name=POSTGRES_DATABASE
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if figures is None:
        return
    print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    common.write_json(options.json, figures)


if __name__ == "__main__":
    main()
