"""Package files in S3: what downloads and pushes cost, through gunicorn on loopback.

1. Downloads per second of a 1 MiB package with S3 storage, streamed by the portal
   versus redirected to a signed URL (PACKAGES_DOWNLOAD_REDIRECT): the portal's
   answers per second, and whole downloads (the redirect followed to the store) per
   second; the file system, streamed, for reference.
2. Pushes per second of a 10 KiB package with S3 against the file system, and to two
   servers (on one database and one bucket, pushes dealt to them in turn) against one.

The S3 server is moto's (the test extra), on loopback: a Python server, far slower
than a real store, so the redirected downloads that reach it measure moto more than
the portal. Both servers share this machine's cores, so two servers show that pushes
spread across servers stay correct and cost nothing extra, not that they scale.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m benchmarks.bench_s3
"""

import argparse
import contextlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests import s3server, servers
from tests.nupkgs import make_nupkg
from tests.soak.conftest import push

WORKERS = 2
CLIENTS = 4
DOWNLOADS = 300
PUSHES = 120
MiB = 1024 * 1024
# Every server of one site, and the command that makes the key, share it.
SECRET_KEY = "bench-s3-" + "k" * 50


def _manage_output(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own manage.py, our own arguments
        [sys.executable, "manage.py", *args],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


@contextlib.contextmanager
def _database(tmp: Path):
    url = os.environ.get("DATABASE_URL") or ""
    if url.startswith("postgres"):
        with servers.postgres_database(url, "portal_bench_s3") as database_url:
            yield database_url, "postgresql"
    else:
        yield f"sqlite:///{tmp / 'bench.sqlite3'}", "sqlite"


@contextlib.contextmanager
def _site(tmp: Path, database_url: str, storage: dict[str, str], count: int, **extra: str):
    """``count`` gunicorn servers on one database and one package store; yields
    their base URLs and a push key."""
    name = f"site-{secrets.token_hex(3)}"
    envs = []
    for index in range(count):
        var_dir = tmp / name / str(index)
        var_dir.mkdir(parents=True)
        envs.append(
            servers.server_env(
                var_dir,
                database_url,
                HOST="127.0.0.1",
                PORT=str(servers.free_port()),
                WEB_CONCURRENCY=str(WORKERS),
                SECRET_KEY=SECRET_KEY,
                **storage,
                **extra,
            )
        )
    processes, bases = [], []
    try:
        for index, env in enumerate(envs):
            log_path = tmp / name / f"{index}.log"
            process = servers.start_gunicorn(env, log_path, "--access-logfile", "/dev/null")
            processes.append(process)
            base = f"http://127.0.0.1:{env['PORT']}"
            servers.wait_until_serving(f"{base}/health/ready", process, log_path.read_text)
            bases.append(base)
        yield bases
    finally:
        for process in processes:
            servers.stop(process)


def _run_in_turn(count: int, job) -> float:
    """Seconds for ``count`` calls of ``job(index)`` by CLIENTS threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(job, range(count)))
    seconds = time.perf_counter() - started
    bad = [r for r in results if r is not True]
    if bad:
        raise RuntimeError(f"{len(bad)} of {count} requests failed: {bad[:3]}")
    return seconds


_local = threading.local()


def _get(url: str, *, follow: bool) -> bool:
    """One GET on a kept connection per thread and host; the redirect too if asked."""
    parts = urllib.parse.urlsplit(url)
    connections = _local.__dict__.setdefault("connections", {})
    connection = connections.get(parts.netloc)
    if connection is None:
        connection = connections[parts.netloc] = http.client.HTTPConnection(
            parts.netloc, timeout=60
        )
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.request("GET", path)
    answer = connection.getresponse()
    body = answer.read()
    if answer.status == 302:
        return _get(answer.getheader("Location"), follow=False) if follow else True
    return answer.status == 200 and len(body) > MiB


def downloads(tmp, database_url, storage, *, redirect: int, follow: bool, key_env) -> float:
    extra = {"PACKAGES_DOWNLOAD_REDIRECT": str(redirect)}
    with _site(tmp, database_url, storage, 1, **extra) as (base,):
        package_id = f"Bench.Download{secrets.token_hex(2)}"
        data = make_nupkg(package_id, "1.0.0", extra_files={"lib/a.bin": os.urandom(MiB)})
        answer = push(base, key_env(), data, timeout=60, user_agent="bench")
        if answer.status != 201:
            raise RuntimeError(f"push answered {answer.status} {answer.reason}")
        lower = package_id.lower()
        url = f"{base}/v3/flatcontainer/{lower}/1.0.0/{lower}.1.0.0.nupkg"
        _run_in_turn(CLIENTS * 2, lambda _: _get(url, follow=follow))  # warm up
        return DOWNLOADS / _run_in_turn(DOWNLOADS, lambda _: _get(url, follow=follow))


def pushes(tmp, database_url, storage, *, count: int, key_env) -> float:
    with _site(tmp, database_url, storage, count) as bases:
        package_id = f"Bench.Push{secrets.token_hex(2)}"
        bodies = [
            make_nupkg(package_id, f"1.0.{i}", extra_files={"lib/a.bin": os.urandom(10_240)})
            for i in range(PUSHES + CLIENTS)
        ]
        key = key_env()

        def one(index):
            answer = push(bases[index % len(bases)], key, bodies[index], timeout=60,
                          user_agent="bench")  # fmt: skip
            return answer.status == 201 or f"{answer.status} {answer.reason}"

        _run_in_turn(CLIENTS, one)  # warm up: the first versions
        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(one, range(CLIENTS, PUSHES + CLIENTS)))
        seconds = time.perf_counter() - started
        if any(r is not True for r in results):
            raise RuntimeError(f"pushes failed: {[r for r in results if r is not True][:3]}")
        return PUSHES / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file too")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as folder:
        tmp = Path(folder)
        with s3server.running(tmp / "moto.log") as s3, _database(tmp) as (database_url, vendor):
            bucket = s3.new_bucket()
            on_s3 = s3.env(bucket)
            on_disk = {"PACKAGES_DIR": str(tmp / "packages")}
            setup_env = servers.server_env(tmp, database_url, SECRET_KEY=SECRET_KEY, **on_s3)
            servers.manage(setup_env, "migrate", "--noinput")
            subprocess.run(
                [sys.executable, "-m", "tests.twoservers.conftest", "setup"],
                cwd=servers.ROOT, env=setup_env, check=True, timeout=120,
            )  # fmt: skip
            key = _manage_output(
                setup_env, "apikey", "create", "--user", "alice", "--name", "bench",
                "--scope", "push", "--glob", "Bench.*", "--expires-in", "30",
            ).strip().splitlines()[-1]  # fmt: skip
            print(f"S3 storage (moto on loopback), {vendor}, {WORKERS} workers a server, "
                  f"{CLIENTS} clients")  # fmt: skip
            figures = {"downloads_per_second": {}, "pushes_per_second": {}}
            print(f"Downloads per second of a 1 MiB package ({DOWNLOADS} downloads):")
            for name, storage, redirect, follow in (
                ("filesystem_streamed", on_disk, 0, False),
                ("s3_streamed", on_s3, 0, False),
                ("s3_redirected_portal_answers", on_s3, 60, False),
                ("s3_redirected_followed", on_s3, 60, True),
            ):
                value = downloads(tmp, database_url, storage, redirect=redirect, follow=follow,
                                  key_env=lambda: key)  # fmt: skip
                figures["downloads_per_second"][name] = value
                print(f"  {name:32} {value:8.1f}", flush=True)
            print(f"Pushes per second of a 10 KiB package ({PUSHES} pushes):")
            for name, storage, count in (
                ("filesystem_one_server", on_disk, 1),
                ("s3_one_server", on_s3, 1),
                ("s3_two_servers", on_s3, 2),
            ):
                value = pushes(tmp, database_url, storage, count=count, key_env=lambda: key)
                figures["pushes_per_second"][name] = value
                print(f"  {name:32} {value:8.1f}", flush=True)
    if arguments.json:
        Path(arguments.json).write_text(
            json.dumps({"benchmark": "s3", "vendor": vendor, **figures}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
