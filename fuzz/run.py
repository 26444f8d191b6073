"""Fuzz every target for a bounded time; exit 1 if any input raised what it must not.

    python -m fuzz.run --seconds 60                 # both targets, time split by weight
    python -m fuzz.run --targets keys --seconds 10
    python -m fuzz.run --engine hypothesis          # without atheris
    python -m fuzz.run --reproduce nupkg var/fuzz/nupkg/crashes/crash-...

Engines: atheris (coverage-guided libFuzzer, one child process per target, since
``atheris.Fuzz()`` exits the process when done) when it is installed, else
Hypothesis, run in rounds until the time is up. Both start from the targets'
seeds; atheris also keeps what it learns in ``var/fuzz/<target>/corpus/``.
A failing input is saved under ``var/fuzz/<target>/crashes/``.
"""

import argparse
import hashlib
import importlib
import importlib.util
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from fuzz import configure, setup_django

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("nupkg", "keys")
# libFuzzer's per-input timeout: far above any honest input, even on a slow, shared
# machine, so that only a real hang (or quadratic blow-up) is reported.
PER_INPUT_TIMEOUT = 30


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="total time, split by weight")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "fuzz")
    parser.add_argument("--reproduce", nargs=2, metavar=("TARGET", "FILE"))
    args = parser.parse_args(argv)

    setup_django()  # the seeds are made by the modules under test
    if args.reproduce:
        return reproduce(*args.reproduce)

    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "hypothesis"
    targets = [load(name) for name in args.targets]
    total_weight = sum(target.WEIGHT for target in targets)
    results = []
    for target in targets:
        seconds = max(1, round(args.seconds * target.WEIGHT / total_weight))
        workdir = args.out / target.NAME
        (workdir / "crashes").mkdir(parents=True, exist_ok=True)
        print(f"== fuzzing {target.NAME} with {engine} for {seconds} s", flush=True)
        run = run_atheris if engine == "atheris" else run_hypothesis
        results.append(run(target, seconds, workdir))

    print("\n== fuzz summary")
    print(f"{'target':8} {'engine':10} {'seconds':>8} {'executions':>11} {'exec/s':>8}  result")
    for result in results:
        print(
            f"{result['target']:8} {engine:10} {result['seconds']:8.1f} "
            f"{result['executions']:11d} {result['rate']:8.0f}  {result['result']}"
        )
    failed = [result for result in results if not result["ok"]]
    for result in failed:
        print(f"\n== {result['target']}: {result['result']}\n{result['details']}")
    return 1 if failed else 0


def load(name: str):
    return importlib.import_module(f"fuzz.fuzz_{name}")


def reproduce(name: str, path: str) -> int:
    data = Path(path).read_bytes()
    target = load(name)
    configure(target)
    try:
        target.test_one_input(data)
    except Exception:
        traceback.print_exc()
        print(f"\n{name}: {path} ({len(data)} bytes) still fails.")
        return 1
    print(f"{name}: {path} ({len(data)} bytes) passes.")
    return 0


def _prepare_seeds(target, workdir: Path) -> Path:
    seeds = workdir / "seeds"
    seeds.mkdir(exist_ok=True)
    for old in seeds.iterdir():
        old.unlink()
    for number, data in enumerate(target.seeds()):
        (seeds / f"seed-{number:03d}").write_bytes(data)
    return seeds


def _write_dictionary(target, workdir: Path) -> Path:
    path = workdir / "dictionary"
    lines = ['"' + "".join(f"\\x{byte:02x}" for byte in token) + '"' for token in target.DICTIONARY]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- atheris ----------------------------------------------------------------------


def run_atheris(target, seconds: int, workdir: Path) -> dict:
    seeds = _prepare_seeds(target, workdir)
    corpus = workdir / "corpus"
    corpus.mkdir(exist_ok=True)
    crashes = workdir / "crashes"
    log = workdir / "atheris.log"
    command = [
        sys.executable,
        "-m",
        target.__name__,
        f"-max_total_time={seconds}",
        f"-max_len={target.MAX_LEN}",
        f"-timeout={PER_INPUT_TIMEOUT}",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-dict={_write_dictionary(target, workdir)}",
        f"-artifact_prefix={crashes}/",
        str(corpus),  # the first directory is where libFuzzer adds new inputs
        str(seeds),
    ]
    before = set(crashes.iterdir())
    started = time.monotonic()
    with log.open("w") as output:
        # No pipe: libFuzzer can print a lot, and a full pipe would stall it.
        code = subprocess.call(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")

    executions = _stat(text, "number_of_executed_units")
    if executions is None:  # no final stats after a crash: the last status line
        runs = re.findall(r"^#(\d+)\s", text, re.MULTILINE)
        executions = int(runs[-1]) if runs else 0
    rate = _stat(text, "average_exec_per_sec") or executions / max(elapsed, 1e-9)
    result = {
        "target": target.NAME,
        "seconds": elapsed,
        "executions": executions,
        "rate": rate,
        "ok": code == 0,
        "result": "ok",
        "details": "",
    }
    if code != 0:
        found = sorted(set(crashes.iterdir()) - before)
        result["result"] = f"FAILED (libFuzzer exit {code})"
        result["details"] = _atheris_details(target, text, found, log)
    else:
        result["result"] = f"ok ({len(list(corpus.iterdir()))} corpus inputs)"
    return result


def _stat(text: str, name: str) -> int | None:
    match = re.search(rf"^stat::{name}:\s*(\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _atheris_details(target, text: str, found: list[Path], log: Path) -> str:
    start = text.find("=== Uncaught Python exception: ===")
    excerpt = text[start:] if start >= 0 else "\n".join(text.splitlines()[-40:])
    lines = [excerpt.strip()[:6000], f"full log: {log}"]
    seed = re.search(r"INFO: Seed: (\d+)", text)
    if seed:
        lines.append(f"libFuzzer seed: {seed.group(1)}")
    for path in found:
        lines.append(f"failing input: {path} ({path.stat().st_size} bytes)")
        lines.append(f"reproduce: python -m fuzz.run --reproduce {target.NAME} {path}")
    if not found:
        lines.append("no input was saved (see the log)")
    return "\n".join(lines)


# --- Hypothesis ---------------------------------------------------------------------


def run_hypothesis(target, seconds: int, workdir: Path) -> dict:
    """Hypothesis as a time-boxed fuzzer: rounds of examples until the time is up.

    Hypothesis has no time budget of its own, and stopping it from inside a test
    would count as a failure, so it runs in rounds short enough that the last one
    overruns the budget by a second or so. Each round draws new random inputs;
    the example database under ``workdir`` replays past failures first.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    configure(target)
    strategy = _hypothesis_inputs(target)
    database = DirectoryBasedExampleDatabase(str(workdir / "hypothesis"))
    executions = 0
    failing: list[bytes] = []

    def one_input(data: bytes) -> None:
        nonlocal executions
        executions += 1
        signal.alarm(PER_INPUT_TIMEOUT)  # a hang is a finding too, as under libFuzzer
        try:
            target.test_one_input(data)
        except Exception:
            failing[:] = [data]  # after shrinking, the last failure is the smallest
            raise
        finally:
            signal.alarm(0)

    def too_slow(signum, frame):
        raise TimeoutError(f"one input ran for over {PER_INPUT_TIMEOUT} s")

    signal.signal(signal.SIGALRM, too_slow)

    started = time.monotonic()
    rounds = 0
    while time.monotonic() - started < seconds:
        rounds += 1
        fuzz_round = settings(
            max_examples=200,
            deadline=None,
            database=database,
            derandomize=False,
            phases=(Phase.reuse, Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=True,
        )(given(strategy)(one_input))
        try:
            fuzz_round()
        except Exception:
            elapsed = time.monotonic() - started
            details = [traceback.format_exc()[-6000:]]
            if failing:  # empty if Hypothesis itself gave up (flaky, internal error)
                digest = hashlib.sha1(failing[0], usedforsecurity=False).hexdigest()
                path = workdir / "crashes" / f"hypothesis-{digest}"
                path.write_bytes(failing[0])
                details += [
                    f"failing input: {path} ({len(failing[0])} bytes)",
                    f"reproduce: python -m fuzz.run --reproduce {target.NAME} {path}",
                ]
            return {
                "target": target.NAME,
                "seconds": elapsed,
                "executions": executions,
                "rate": executions / elapsed,
                "ok": False,
                "result": "FAILED",
                "details": "\n".join(details),
            }
    elapsed = time.monotonic() - started
    return {
        "target": target.NAME,
        "seconds": elapsed,
        "executions": executions,
        "rate": executions / elapsed,
        "ok": True,
        "result": f"ok ({rounds} rounds)",
        "details": "",
    }


def _hypothesis_inputs(target):
    """Seeds put through a few random byte edits, the way libFuzzer mutates; plus
    plain random bytes now and then."""
    from hypothesis import strategies as st

    seeds = target.seeds()
    tokens = target.DICTIONARY
    extremes = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80"]

    @st.composite
    def mutated(draw):
        data = bytearray(draw(st.sampled_from(seeds)))
        for _ in range(draw(st.integers(0, 8))):
            at = draw(st.integers(1, max(1, len(data))))  # byte 0 picks the mode: keep it
            kind = draw(st.integers(0, 6))
            if kind == 0:
                data[at : at + 1] = bytes([draw(st.integers(0, 255))])
            elif kind == 1:
                data[at:at] = draw(st.binary(min_size=1, max_size=16))
            elif kind == 2:
                del data[at : at + draw(st.integers(1, 32))]
            elif kind == 3:
                data[at:at] = draw(st.sampled_from(tokens))
            elif kind == 4:
                data[at : at + 4] = draw(st.sampled_from(extremes))
            elif kind == 5:
                del data[at:]
            else:  # copy a chunk of the input elsewhere
                source = draw(st.integers(0, len(data)))
                data[at:at] = data[source : source + draw(st.integers(1, 64))]
        return bytes(data[: target.MAX_LEN])

    return mutated() | st.binary(max_size=min(target.MAX_LEN, 4096))


if __name__ == "__main__":
    sys.exit(main())
