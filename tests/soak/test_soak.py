"""Many clients at once against gunicorn on PostgreSQL: nothing lost, doubled or unaudited.

Four client processes, each a bounded series of requests (push new versions,
push existing ones again, unlist, and present bad keys), against three gunicorn
workers on loopback. Every request and its answer is recorded, then held up
against the rows, the files on disk, the audit log and the server log.
"""

import base64
import hashlib
import multiprocessing
import random
import time
from collections import Counter
from dataclasses import asdict

import pytest

from tests.nupkgs import make_nupkg
from tests.servers import free_port, manage
from tests.soak.conftest import push, server_env, serving, unlist

CLIENTS = 4
OPERATIONS = 40  # per client
BUDGET_SECONDS = 60  # for all clients together; each stops early when it runs out
REQUEST_TIMEOUT = 15
CONTESTED = ("Soak.Contested", "1.0.0")
# What each kind of request must be answered with.
EXPECTED = {"push": {201}, "contested": {201, 409}, "repush": {409}, "unlist": {204}, "bad": {403}}
# Setting up the keys writes these; the clients cause the rest.
SETUP_EVENTS = {"api_key:created", "api_key:revoked"}


def _client(number: int, base: str, key: str, bad_keys: list[str], deadline: float) -> list[dict]:
    """One client's requests, in a process of its own; returns a record per request."""
    rng = random.Random(number)
    user_agent = f"soak-client/{number}"
    pushed: list[tuple[str, str]] = []
    records = []

    def send(op, package_id, version, answer):
        records.append(
            {"client": number, "op": op, "id": package_id, "version": version, **asdict(answer)}
        )
        return answer

    # Every client pushes the same version first, together: one wins, the rest get 409.
    answer = push(base, key, make_nupkg(*CONTESTED), timeout=REQUEST_TIMEOUT, user_agent=user_agent)
    if send("contested", *CONTESTED, answer).status == 201:
        pushed.append(CONTESTED)

    for n in range(1, OPERATIONS):
        if time.monotonic() > deadline:
            break
        op = rng.choices(["push", "repush", "unlist", "bad"], weights=[50, 15, 20, 15])[0]
        if op in ("repush", "unlist") and not pushed:
            op = "push"
        if op == "push":
            # One ID all clients push to (its first push races to create the
            # package), and one per client; versions never collide.
            if n % 2:
                package_id, version = "Soak.Shared", f"{number + 1}.{n}.0"
            else:
                package_id, version = f"Soak.Client{number}", f"1.0.{n}"
            nupkg = make_nupkg(package_id, version)
            answer = push(base, key, nupkg, timeout=REQUEST_TIMEOUT, user_agent=user_agent)
            if send(op, package_id, version, answer).status == 201:
                pushed.append((package_id, version))
        elif op == "repush":
            package_id, version = rng.choice(pushed)
            nupkg = make_nupkg(package_id, version)
            answer = push(base, key, nupkg, timeout=REQUEST_TIMEOUT, user_agent=user_agent)
            send(op, package_id, version, answer)
        elif op == "unlist":
            package_id, version = rng.choice(pushed)
            answer = unlist(
                base, key, package_id, version, timeout=REQUEST_TIMEOUT, user_agent=user_agent
            )
            send(op, package_id, version, answer)
        else:
            bad_key = bad_keys[n % len(bad_keys)]
            if n % 2:
                nupkg = make_nupkg("Soak.Bad", f"1.0.{n}")
                answer = push(base, bad_key, nupkg, timeout=REQUEST_TIMEOUT, user_agent=user_agent)
            else:
                answer = unlist(
                    base, bad_key, *CONTESTED, timeout=REQUEST_TIMEOUT, user_agent=user_agent
                )
            send(op, "", "", answer)
    return records


def _run_clients(base: str, key: str, bad_keys: list[str]) -> list[dict]:
    # spawn, not fork: the children must not inherit the test process's Django
    # state or database connections.
    context = multiprocessing.get_context("spawn")
    deadline = time.monotonic() + BUDGET_SECONDS - 10  # CLOCK_MONOTONIC is system-wide
    with context.Pool(CLIENTS) as pool:
        pending = pool.starmap_async(
            _client, [(n, base, key, bad_keys, deadline) for n in range(CLIENTS)]
        )
        try:
            results = pending.get(timeout=BUDGET_SECONDS)
        except multiprocessing.TimeoutError:
            pool.terminate()
            pytest.fail(f"the clients did not finish within {BUDGET_SECONDS} s", pytrace=False)
    return [record for records in results for record in records]


def _expected_events(records: list[dict]) -> Counter:
    kinds = {201: "package:pushed", 409: "package:refused", 204: "package:unlisted"}
    expected = Counter()
    for record in records:
        if record["op"] == "bad":
            expected["api_key:auth_failed", "", ""] += 1
        else:
            expected[kinds[record["status"]], record["id"].lower(), record["version"]] += 1
    return expected


def test_concurrent_clients_leave_consistent_rows_files_and_audit_log(tmp_path, soak_database_url):
    env = server_env(
        tmp_path,
        soak_database_url,
        HOST="127.0.0.1",
        PORT=str(free_port()),
        WEB_CONCURRENCY="3",
        # The limiter has tests of its own; here every bad key must get its 403.
        FEED_AUTH_FAILURE_LIMIT="100000",
    )
    manage(env, "migrate", "--noinput")
    with serving(env, tmp_path / "server.log") as portal:
        keys = portal.server_side("setup")
        started = time.monotonic()
        records = _run_clients(portal.base, keys["key"], list(keys["bad_keys"].values()))
        load_seconds = time.monotonic() - started
    # gunicorn has stopped: its log is complete.
    log, access = portal.log(), portal.access_log()
    state = portal.server_side("state")

    # Every request got the answer its kind calls for, and the race had one winner.
    unexpected = [r for r in records if r["status"] not in EXPECTED[r["op"]]]
    assert not unexpected, unexpected
    assert [r["status"] for r in records if r["op"] == "contested"].count(201) == 1
    statuses = Counter(r["status"] for r in records)
    assert statuses[201] > CLIENTS and statuses[409] and statuses[204] and statuses[403]
    print(
        f"{len(records)} requests in {load_seconds:.1f} s, {dict(statuses)}, "
        f"slowest {max(r['seconds'] for r in records):.2f} s"
    )

    # Each 201 has exactly its row, no row came from anywhere else, and no version twice.
    versions = state["versions"]
    rows = [(v["id"].lower(), v["version"]) for v in versions]
    assert len(rows) == len(set(rows)), Counter(rows).most_common(3)
    created = [(r["id"].lower(), r["version"]) for r in records if r["status"] == 201]
    assert sorted(rows) == sorted(created)
    unlisted = {(r["id"].lower(), r["version"]) for r in records if r["status"] == 204}
    assert {(v["id"].lower(), v["version"]) for v in versions if not v["listed"]} == unlisted

    # Each row has its file, with the bytes that were pushed; no file without a row.
    files = {
        path.relative_to(portal.packages_dir).as_posix()
        for path in portal.packages_dir.rglob("*")
        if path.is_file()
    }
    assert files == {v["file_name"] for v in versions}
    for v in versions:
        data = (portal.packages_dir / v["file_name"]).read_bytes()
        assert data == make_nupkg(v["id"], v["version"]), v["file_name"]
        sha512 = base64.b64encode(hashlib.sha512(data).digest()).decode()
        assert (len(data), sha512) == (v["size"], v["sha512"]), v["file_name"]

    # Every request is in the audit log, as what it was.
    events = [e for e in state["events"] if e["kind"] not in SETUP_EVENTS]
    found = Counter((e["kind"], e["package_id"].lower(), e["package_version"]) for e in events)
    assert found == _expected_events(records)
    refused = [e["details"] for e in events if e["kind"] == "package:refused"]
    assert {(d["action"], d["code"]) for d in refused} == {("push", "exists")}
    failures = Counter(
        e["details"]["failure"] for e in events if e["kind"] == "api_key:auth_failed"
    )
    assert set(failures) == {"malformed", "unknown", "revoked"}, failures

    # The server saw every request, and none of them broke anything.
    api = [line for line in access if line["path"].startswith("/api/v2/package")]
    assert Counter(line["status"] for line in api) == Counter(str(r["status"]) for r in records)
    assert not [line for line in access if line["status"].startswith("5")], log
    for sign in ("Traceback", "WORKER TIMEOUT", "exited with code"):
        assert sign not in log, f"the server log has {sign!r}:\n{log}"
