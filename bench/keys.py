"""What API keys and rate limits cost: keyed requests with limits on, against no key, no limits.

A benchmark, run by hand (not a test), beside bench/run.py (whose wrk.lua and procfs.py it uses):

    .venv/bin/python bench/keys.py [--duration 10] [--rounds 3] [--only sqlite postgis]

For each backend it loads the generated sample into a fresh database (a SQLite file; the
PostgreSQL database stations_bench_keys), creates an API key with the command line, its limit
too high to be reached (every request is counted, none refused), and serves the app with
gunicorn (2 sync workers) on 127.0.0.1. wrk (2 threads, 16 connections) then asks for the 10
nearest stations at random Shenzhen positions in each of these setups:

- baseline: RATELIMIT_ENABLED=false, no key
- keyed, limits on (machine): counted in the SQLite file the workers share (RATELIMIT_FILE, in
  the run's temporary folder), X-API-Key on every request
- keyed, limits on (Redis): counted in Redis (BENCH_REDIS_URL, default database 5), X-API-Key
- anonymous, limits on (machine): no key, the per-IP count (its limit raised out of reach)

The setups take turns for --rounds rounds, each round starting with the next setup, and each
reports its median round, so that a burst of other work on the shared machine does not land on
one setup only; before each run it waits for
the machine to be quiet (procfs.wait_for_quiet). Besides requests per second it reports the
servers' CPU time per request (gunicorn workers, their PostgreSQL backends, and Redis when used),
which other work disturbs less. Target (issue 5): keyed with limits within 10 % of the baseline.
Prints a Markdown table and writes it to bench/results/keys-<time>.md.
"""

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import redis
from procfs import cpu_snapshot, wait_for_quiet

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PG_ROOT_URL = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "stations_bench_keys"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
WORKERS, THREADS, CONNECTIONS, WARMUP_S = 2, 2, 16, 3
TARGET_PCT = 90
SETUPS = (
    ("baseline: no key, limits off", {"RATELIMIT_ENABLED": "false"}, False),
    ("keyed, limits on (machine)", {}, True),
    ("keyed, limits on (Redis)", {"REDIS_URL": REDIS_URL}, True),
    ("anonymous, limits on (machine)", {"API_LIMIT_PER_IP": "100000000 per minute"}, False),
)


def run(command, env=None, timeout_s=900):
    """Run a command from the repository root; its output, or exit with it on failure."""
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return done.stdout


def app_env(database_url, **settings):
    """The environment of the app's processes: ours, without what would change the setup."""
    unset = ("FLASK_ENV", "FLASK_DEBUG", "REDIS_URL", "RATELIMIT_ENABLED", "API_LIMIT_PER_IP")
    unset += ("RATELIMIT_FILE",)
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return env | {"DATABASE_URL": database_url} | settings


def prepare(backend, workdir, database=PG_DATABASE):
    """A fresh database with the sample and an API key; (its URL, the key)."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir}/bench.sqlite"
    else:
        for statement in ("DROP DATABASE IF EXISTS", "CREATE DATABASE"):
            run(["psql", PG_ROOT_URL + "/postgres", "-qc", f"{statement} {database}"])
        url = f"{PG_ROOT_URL}/{database}"
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    env = app_env(url)
    run([*flask, "init-db"], env)
    run([*flask, "load-sample"], env)
    created = run([*flask, "create-api-key", "benchmark", "--per-minute", "1000000"], env)
    if backend == "postgis":
        run(["psql", url, "-qc", "ANALYZE"])
    return url, re.search(r"^rsk_\S+$", created, re.M).group(0)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_cpu_s(env):
    """CPU seconds Redis has used so far, when this setup counts in it."""
    if "REDIS_URL" not in env:
        return 0.0
    info = redis.Redis.from_url(env["REDIS_URL"]).info("cpu")
    return info["used_cpu_sys"] + info["used_cpu_user"]


def start_gunicorn(env, log):
    """gunicorn on a free port, once it answers; (the process, its base URL)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-k", "sync"]
    server = subprocess.Popen(
        [*command, "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
                return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("gunicorn did not start; see bench/results/keys-gunicorn.log")
            time.sleep(0.2)


def measure(env, key, duration_s, log, database):
    """One setup once: the wrk summary with req/s, server CPU ms/request and others' CPU %."""
    server, url = start_gunicorn(env, log)
    wrk = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "--latency"]
    wrk += ["-s", str(BENCH / "wrk.lua"), url, "--", "nearest", key or ""]
    try:
        run([*wrk, "-d", f"{WARMUP_S}s"])
        wait_for_quiet()
        before, redis_before = cpu_snapshot(server.pid, database), redis_cpu_s(env)
        output = run([*wrk, "-d", f"{duration_s}s"])
        after, redis_after = cpu_snapshot(server.pid, database), redis_cpu_s(env)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    elapsed_s, busy_s, server_s, wrk_s = (b - a for a, b in zip(before, after, strict=True))
    server_s += redis_after - redis_before
    stats = json.loads(re.search(r"^BENCH (.*)$", output, re.M).group(1))
    return stats | {
        "rps": stats["requests"] / (stats["duration_us"] / 1e6),
        "cpu_ms": 1000 * server_s / stats["requests"],
        "others_pct": 100 * (busy_s - server_s - wrk_s) / (elapsed_s * os.cpu_count()),
    }


def median_round(rounds):
    """The round with the median requests per second."""
    return sorted(rounds, key=lambda stats: stats["rps"])[len(rounds) // 2]


def report(results, duration_s, rounds):
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    commit = run(["git", "rev-parse", "--short", "HEAD"]).strip()
    lines = [
        f"# Keys and limits benchmark, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Commit {commit}; {os.cpu_count()} cores ({cpu.group(1) if cpu else platform.machine()}),"
        f" Python {platform.python_version()}. gunicorn -w {WORKERS} sync; wrk -t{THREADS} "
        f"-c{CONNECTIONS} -d{duration_s}s after {WARMUP_S} s of warm-up; GET nearest, limit=10,"
        f" random positions; the median of {rounds} interleaved rounds.",
        "",
        "| backend | setup | req/s | % of baseline | server CPU ms/req | % of baseline by CPU "
        "| p50 ms | p99 ms | errors | others' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for backend, rows in results.items():
        baseline = rows[0][1]
        for name, stats in rows:
            pct = 100 * stats["rps"] / baseline["rps"]
            cpu_pct = 100 * baseline["cpu_ms"] / stats["cpu_ms"]
            lines.append(
                f"| {backend} | {name} | {stats['rps']:.0f} | {pct:.0f} % | "
                f"{stats['cpu_ms']:.2f} | {cpu_pct:.0f} % | "
                f"{stats['p50_us'] / 1000:.1f} | {stats['p99_us'] / 1000:.1f} | "
                f"{stats['socket_errors'] + stats['non_2xx']} | {stats['others_pct']:.0f} % |"
            )
            if name.startswith("keyed"):
                met = "met" if pct >= TARGET_PCT else "MISSED"
                verdicts.append(
                    f"- {backend}, {name}: {pct:.0f} % of the baseline's req/s ({met}), "
                    f"{cpu_pct:.0f} % by CPU"
                )
    lines += ["", f"Target: keyed with limits ≥ {TARGET_PCT} % of the baseline.", "", *verdicts]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setup, interleaved")
    parser.add_argument("--only", nargs="+", choices=("sqlite", "postgis"), default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="stations-keys-") as workdir,
        open(results_dir / "keys-gunicorn.log", "w") as log,
    ):
        for backend in args.only or ("sqlite", "postgis"):
            print(f"{backend}: preparing", flush=True)
            url, key = prepare(backend, workdir)
            database = PG_DATABASE if backend == "postgis" else None
            rounds = {name: [] for name, _, _ in SETUPS}
            for number in range(1, args.rounds + 1):
                # Each round starts with another setup: no setup always runs first (or last).
                shift = (number - 1) % len(SETUPS)
                for name, settings, keyed in SETUPS[shift:] + SETUPS[:shift]:
                    print(f"{backend}, round {number}: {name}", flush=True)
                    counts = {"RATELIMIT_FILE": f"{workdir}/limits-{backend}-{number}.sqlite"}
                    env = app_env(url, **counts, **settings)
                    stats = measure(env, key if keyed else None, args.duration, log, database)
                    rounds[name].append(stats)
            results[backend] = [(name, median_round(rounds[name])) for name, _, _ in SETUPS]
    text = report(results, args.duration, args.rounds)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (results_dir / f"keys-{stamp}.md").write_text(text, encoding="utf-8")
    print(text + f"\nWritten to bench/results/keys-{stamp}.md")


if __name__ == "__main__":
    main()
