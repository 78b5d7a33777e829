"""What keys and rate limits cost: keyed requests with limits on, against no key and no limits.

A benchmark, run by hand (not a test), on an otherwise idle machine:

    .venv/bin/python bench/keys.py [--duration 15] [--only sqlite postgis]

For each backend it loads the generated sample into a fresh database (a SQLite file; the
PostgreSQL database stations_bench_keys), creates an API key whose limit is too high to be
reached (so every request is counted, none refused), and serves the app with gunicorn
(2 sync workers) on 127.0.0.1. wrk (2 threads, 16 connections) then asks for the 10 nearest
stations at random Shenzhen positions in each of these setups:

- baseline: RATELIMIT_ENABLED=false, no key
- keyed, memory: limits on (counted in each worker's memory), X-API-Key on every request
- keyed, Redis: limits on, counted in Redis (REDIS_URL, database 5), X-API-Key
- anonymous, memory: limits on, no key (the per-IP count)

Each setup runs --rounds times, the setups taking turns, and the median round is reported, so
that a burst of other work on the machine does not land on one setup only. Besides requests per
second, the table gives the CPU time the servers spent per request (gunicorn workers, their
PostgreSQL backends, and Redis when used), which other work on the machine disturbs less.
The target (issue 5): keyed with limits within 10 % of the baseline.
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

ROOT = Path(__file__).resolve().parents[1]
PG_ROOT_URL = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "stations_bench_keys"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
WORKERS, THREADS, CONNECTIONS, WARMUP_S = 2, 2, 16, 3
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_PCT = 90
LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("n", #threads) end
function init(args)
  key = args[1]
  math.randomseed(20261128 + n)
end
function request()
  local lat = 22.45 + math.random() * 0.40
  local lng = 113.78 + math.random() * 0.77
  local path = string.format("/api/v1/stations/nearest?lat=%.6f&lng=%.6f&limit=10", lat, lng)
  local headers = {}
  if key and key ~= "" then headers["X-API-Key"] = key end
  return wrk.format("GET", path, headers)
end
function done(summary, latency, requests)
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "errors": %d, '
    .. '"non_2xx": %d, "p50_us": %d, "p99_us": %d}\\n', summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
"""
SETUPS = (
    ("baseline: no key, limits off", {"RATELIMIT_ENABLED": "false"}, False),
    ("keyed, limits on (memory)", {}, True),
    ("keyed, limits on (Redis)", {"REDIS_URL": REDIS_URL}, True),
    ("anonymous, limits on (memory)", {"API_LIMIT_PER_IP": "100000000 per minute"}, False),
)


def run(command, env, timeout_s=900):
    """Run a command from the repository root; its output, or exit with it on failure."""
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return done.stdout


def app_env(database_url, **settings):
    """The environment of the app's processes."""
    unset = ("FLASK_ENV", "FLASK_DEBUG", "REDIS_URL", "RATELIMIT_ENABLED", "API_LIMIT_PER_IP")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return env | {"DATABASE_URL": database_url} | settings


def prepare(backend, workdir):
    """A fresh database with the sample and a key; (its URL, the key)."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir}/bench.sqlite"
    else:
        for statement in ("DROP DATABASE IF EXISTS", "CREATE DATABASE"):
            run(
                ["psql", PG_ROOT_URL + "/postgres", "-qc", f"{statement} {PG_DATABASE}"], os.environ
            )
        url = f"{PG_ROOT_URL}/{PG_DATABASE}"
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    env = app_env(url)
    run([*flask, "init-db"], env)
    run([*flask, "load-sample"], env)
    created = run([*flask, "create-api-key", "benchmark", "--per-minute", "1000000"], env)
    if backend == "postgis":
        run(["psql", url, "-qc", "ANALYZE"], env)
    return url, re.search(r"^rsk_\S+$", created, re.M).group(0)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_cpu_s(pid):
    """User and system CPU seconds of one process so far (0 if it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server_pids(master_pid, database):
    """gunicorn's workers, and the PostgreSQL backends connected to the benchmark database."""
    pids = [
        int(p) for p in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    ]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_text()
        except OSError:
            continue
        if database and title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(cmdline.parent.name))
    return pids


def redis_cpu_s(env):
    """CPU seconds Redis has used, when this setup counts in it."""
    if "REDIS_URL" not in env:
        return 0.0
    info = redis.Redis.from_url(env["REDIS_URL"]).info("cpu")
    return info["used_cpu_sys"] + info["used_cpu_user"]


def measure(env, key, duration_s, script, log, database):
    """Start gunicorn with env, warm it up, run wrk; the wrk summary, req/s and CPU ms/request."""
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
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("gunicorn did not start; see bench/results/keys-gunicorn.log")
                time.sleep(0.2)
        base = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "--latency", "-s", script]
        url = f"http://127.0.0.1:{port}"
        run([*base, "-d", f"{WARMUP_S}s", url, "--", key or ""], env)
        pids = server_pids(server.pid, database)
        cpu_before = sum(map(process_cpu_s, pids)) + redis_cpu_s(env)
        output = run([*base, "-d", f"{duration_s}s", url, "--", key or ""], env)
        cpu_s = sum(map(process_cpu_s, pids)) + redis_cpu_s(env) - cpu_before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    stats = json.loads(re.search(r"^BENCH (.*)$", output, re.M).group(1))
    rps = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats | {"rps": rps, "cpu_ms": 1000 * cpu_s / stats["requests"]}


def median_round(rounds):
    """The round with the median requests per second."""
    return sorted(rounds, key=lambda stats: stats["rps"])[len(rounds) // 2]


def report(results, duration_s, rounds):
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    commit = run(["git", "rev-parse", "--short", "HEAD"], os.environ).strip()
    lines = [
        f"# Keys and limits benchmark, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"Commit {commit}; {os.cpu_count()} cores ({cpu.group(1) if cpu else platform.machine()}),"
        f" Python {platform.python_version()}. gunicorn -w {WORKERS} sync; wrk -t{THREADS} "
        f"-c{CONNECTIONS} -d{duration_s}s after {WARMUP_S} s of warm-up; GET nearest, limit=10,"
        f" random positions; the median of {rounds} interleaved rounds.",
        "",
        "| backend | setup | req/s | vs baseline | server CPU ms/request | vs baseline | p50 ms "
        "| p99 ms | errors, non-2xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for backend, rows in results.items():
        baseline = rows[0][1]
        for name, stats in rows:
            pct = 100 * stats["rps"] / baseline["rps"]
            cpu_pct = 100 * stats["cpu_ms"] / baseline["cpu_ms"]
            lines.append(
                f"| {backend} | {name} | {stats['rps']:.0f} | {pct:.0f} % | "
                f"{stats['cpu_ms']:.2f} | {cpu_pct:.0f} % | "
                f"{stats['p50_us'] / 1000:.1f} | {stats['p99_us'] / 1000:.1f} | "
                f"{stats['errors'] + stats['non_2xx']} |"
            )
            if name.startswith("keyed"):
                met = "met" if pct >= TARGET_PCT else "MISSED"
                verdicts.append(
                    f"- {backend}, {name}: {pct:.0f} % of the baseline's req/s ({met}); "
                    f"{cpu_pct:.0f} % of its server CPU per request"
                )
    lines += [
        "",
        f"Target: keyed with limits ≥ {TARGET_PCT} % of the baseline's req/s.",
        "",
        *verdicts,
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setup, interleaved")
    parser.add_argument("--only", nargs="+", choices=("sqlite", "postgis"), default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="stations-keys-") as workdir:
        script = Path(workdir) / "keys.lua"
        script.write_text(LUA)
        with open(results_dir / "keys-gunicorn.log", "w") as log:
            for backend in args.only or ("sqlite", "postgis"):
                print(f"{backend}: preparing", flush=True)
                url, key = prepare(backend, workdir)
                database = PG_DATABASE if backend == "postgis" else None
                rounds = {name: [] for name, _, _ in SETUPS}
                for number in range(1, args.rounds + 1):
                    for name, settings, keyed in SETUPS:
                        print(f"{backend}, round {number}: {name}", flush=True)
                        env = app_env(url, **settings)
                        stats = measure(
                            env, key if keyed else None, args.duration, str(script), log, database
                        )
                        rounds[name].append(stats)
                results[backend] = [(name, median_round(rounds[name])) for name, _, _ in SETUPS]
    text = report(results, args.duration, args.rounds)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    (results_dir / f"keys-{stamp}.md").write_text(text, encoding="utf-8")
    print(text + f"\nWritten to bench/results/keys-{stamp}.md")


if __name__ == "__main__":
    main()
