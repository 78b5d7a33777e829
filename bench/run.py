"""Benchmark GET /api/v1/stations/nearest against the /api/v1/health baseline.

For each backend (SQLite file, PostGIS) and size (the sample, 100,000 synthetic stations): prepare
the database, start gunicorn (2 sync workers) on 127.0.0.1, drive it with wrk, read the workers'
peak RSS and, on PostGIS, time the nearest SQL itself. Prints a Markdown report and writes it to
bench/results/<timestamp>.md. Everything it starts is stopped on exit; all traffic is local.

With --ops ROUNDS it measures instead what running it as a service costs: nearest served as
deployed (deploy/gunicorn.conf.py, metrics, LOG_FORMAT=json, request ids, security headers)
against the same deployment less those (bench/ops_off.py, text access log), in turns;
bench/results/ops-<time>.md.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from procfs import cpu_snapshot, wait_for_quiet, worker_peak_rss_mb
from report import report

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PG_ROOT_URL = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASES = {"sample": "stations_bench", "100k": "stations_bench_100k"}
RUNS = ("sqlite-sample", "sqlite-100k", "postgis-sample", "postgis-100k")
SYNTHETIC_COUNT = 100_000
WORKERS = 2
WRK_THREADS = 2
WRK_CONNECTIONS = 16
WARMUP_S = 3
# A worker keeps the stored fields of the last 50,000 stations it showed (station_json.py), read
# as searches find them: a longer warm-up at 100k fills it.
WARMUP_100K_S = 10


def sh(command, *, env=None, timeout_s=600):
    """Run a command from the repo root; its output, or exit with it on failure."""
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return done.stdout


def app_env(database_url):
    """The environment of every app process: the database, no rate limits, no FLASK_ENV."""
    env = {k: v for k, v in os.environ.items() if k not in ("FLASK_ENV", "FLASK_DEBUG")}
    return env | {"DATABASE_URL": database_url, "RATELIMIT_ENABLED": "false"}


def prepare(run, workdir):
    """A fresh database for the run, with its stations loaded; its URL."""
    backend, size = run.split("-")
    if backend == "sqlite":
        url = f"sqlite:///{workdir}/{run}.sqlite"
    else:
        name = PG_DATABASES[size]
        sh(["psql", PG_ROOT_URL + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"])
        sh(["psql", PG_ROOT_URL + "/postgres", "-qc", f"CREATE DATABASE {name}"])
        url = f"{PG_ROOT_URL}/{name}"
    env = app_env(url)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    sh([*flask, "init-db"], env=env)
    if size == "sample":
        print("  " + sh([*flask, "load-sample"], env=env).strip())
        if backend == "postgis":
            sh(["psql", url, "-qc", "ANALYZE station"])
    else:
        maker = [sys.executable, str(BENCH / "make_stations.py"), str(SYNTHETIC_COUNT)]
        print("  " + sh(maker, env=env).strip())  # runs ANALYZE itself on PostgreSQL
    return url


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(url, port, log, ops=None):
    """gunicorn on 127.0.0.1:port, in its own process group so that all of it can be stopped.

    Without `ops`: the app with bare gunicorn settings (no access log). With `ops`, as deployed
    (deploy/gunicorn.conf.py): "on" with LOG_FORMAT=json (the app's line a request) and the
    metrics summed across workers; "off" with gunicorn's text access log, and the app less its
    ops hooks (metrics, request ids, JSON lines) and security headers (bench/ops_off.py).
    """
    env = app_env(url)
    command = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-k", "sync"]
    if ops is not None:
        command[3:3] = ["-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
        env |= {"LOG_FORMAT": "json" if ops == "on" else "text"}
    # No control socket: gunicorn's default path is shared with any other gunicorn on the machine.
    command += ["-b", f"127.0.0.1:{port}", "--no-control-socket"]
    command += ["--pythonpath", str(BENCH), "ops_off:app"] if ops == "off" else ["app:app"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )


def wait_until_up(server, port, timeout_s=30, path="/api/v1/health"):
    """Return once `path` answers; exit if gunicorn dies or takes too long."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)  # no proxy, ever
        try:
            probe.request("GET", path)
            if probe.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            probe.close()
        time.sleep(0.2)
    sys.exit("gunicorn did not start; see its log in bench/results/")


def stop(server):
    """Stop a process group started here: TERM, then KILL after 15 s."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wrk(
    server, port, endpoint, duration_s, database=None, connections=WRK_CONNECTIONS, quiet_wait=True
):
    """One wrk run: the BENCH line of bench/wrk.lua, req/s and the CPU it cost.

    server_ms is the CPU time of the gunicorn workers (and their PostgreSQL backends) per request,
    which other load on the machine barely changes; others_pct is the CPU share that other
    processes took meanwhile, which makes req/s and latency noisy.
    """
    threads = min(WRK_THREADS, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s}s"]
    command += ["--latency", "-s", str(BENCH / "wrk.lua"), f"http://127.0.0.1:{port}"]
    if quiet_wait:
        wait_for_quiet()
    before = cpu_snapshot(server.pid, database)
    output = sh([*command, "--", endpoint], timeout_s=duration_s + 60)
    after = cpu_snapshot(server.pid, database)
    elapsed_s, busy_s, server_s, wrk_s = (b - a for a, b in zip(before, after, strict=True))
    stats = json.loads(re.search(r"^BENCH (.*)$", output, re.M).group(1))
    return stats | {
        "rps": stats["requests"] / (stats["duration_us"] / 1e6),
        "server_ms": 1000 * server_s / stats["requests"],
        "others_pct": 100 * (busy_s - server_s - wrk_s) / (elapsed_s * os.cpu_count()),
    }


def nearest_sql(url, *options):
    """The summary printed by bench/nearest_sql.py."""
    output = sh([sys.executable, str(BENCH / "nearest_sql.py"), *options], env=app_env(url))
    return json.loads(re.search(r"^SQL (.*)$", output, re.M).group(1))


def bench(run, url, duration_s, log):
    """Measure one prepared run: health and nearest rows, the workers' RSS, the SQL timings."""
    backend, size = run.split("-")
    database = PG_DATABASES[size] if backend == "postgis" else None
    port = free_port()
    server = start_gunicorn(url, port, log)
    try:
        wait_until_up(server, port)
        workers_before = set(worker_peak_rss_mb(server.pid))
        # Imports, caches, connections in both workers, before anything is measured.
        wrk(server, port, "nearest", WARMUP_S if size == "sample" else WARMUP_100K_S)
        health = wrk(server, port, "health", duration_s, database)
        nearest = wrk(server, port, "nearest", duration_s, database)
        peaks = worker_peak_rss_mb(server.pid)
    finally:
        stop(server)
    if set(peaks) != workers_before:
        print(f"  warning: workers changed during the run ({workers_before} -> {set(peaks)})")
    result = {"run": run, "health": health, "nearest": nearest, "rss_mb": max(peaks.values())}
    if backend == "postgis":
        result["sql"] = nearest_sql(url)
    return result


def bench_ops(run, url, duration_s, log, rounds):
    """/nearest served with the ops hooks, JSON logs and headers on, and with them off, in turns
    (each round starts with the other), so that other work on the machine hits both alike."""
    backend, size = run.split("-")
    database = PG_DATABASES[size] if backend == "postgis" else None
    found = {"on": [], "off": []}
    for number in range(rounds):
        for ops in ("on", "off") if number % 2 == 0 else ("off", "on"):
            port = free_port()
            server = start_gunicorn(url, port, log, ops)
            try:
                wait_until_up(server, port)
                wrk(server, port, "nearest", WARMUP_S)
                found[ops].append(wrk(server, port, "nearest", duration_s, database))
            finally:
                stop(server)
            print(f"  ops {ops}: {found[ops][-1]['rps']:.0f} req/s", flush=True)
    return {"run": run, "ops": found}


def ops_report(results, *, version, duration_s):
    """Markdown: nearest with the ops on against off, median rounds, and the target (≥ 90 %)."""
    lines = [
        f"# Ops overhead benchmark, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"App: commit {version}. gunicorn -w {WORKERS} sync with deploy/gunicorn.conf.py; wrk "
        f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{duration_s}s on nearest (`limit=10`, random "
        "Shenzhen positions). On: metrics (multiprocess), LOG_FORMAT=json, request ids, security "
        "headers. Off: bench/ops_off.py (no ops hooks, no Talisman), gunicorn's text access log.",
        "",
        "| run | ops | req/s (rounds) | median req/s | server CPU ms/req | others' CPU |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for result in results:
        medians = {}
        for ops, runs in result["ops"].items():
            rates = sorted(each["rps"] for each in runs)
            medians[ops] = rates[len(rates) // 2]
            cpu = sorted(each["server_ms"] for each in runs)[len(runs) // 2]
            others = max(each["others_pct"] for each in runs)
            lines.append(
                f"| {result['run']} | {ops} | {', '.join(f'{r:.0f}' for r in rates)} | "
                f"{medians[ops]:.0f} | {cpu:.2f} | ≤ {others:.0f} % |"
            )
        share = 100 * medians["on"] / medians["off"]
        verdict = "met" if share >= 90 else "MISSED"
        verdicts.append(f"- {result['run']}: on = {share:.0f} % of off (target ≥ 90 %): {verdict}")
    return "\n".join([*lines, "", *verdicts]) + "\n"


def app_version():
    """The commit the app runs from, marked when its files have uncommitted changes."""
    commit = sh(["git", "rev-parse", "--short", "HEAD"]).strip()
    changed = sh(["git", "status", "--porcelain", "--", "app.py", "stations", "migrations"])
    return commit + (" with uncommitted changes" if changed.strip() else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk scenario")
    parser.add_argument("--only", nargs="+", choices=RUNS, default=RUNS, metavar="RUN")
    parser.add_argument(
        "--ops",
        type=int,
        metavar="ROUNDS",
        help="instead: nearest with metrics, JSON logs and headers on vs off, in ROUNDS turns",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks run
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    version = app_version()  # before the runs: others may commit meanwhile
    workdir = tempfile.mkdtemp(prefix="stations-bench-")
    try:
        with open(results_dir / f"{stamp}-gunicorn.log", "w") as log:
            results = []
            for run in (run for run in RUNS if run in args.only):
                print(f"{run}: preparing", flush=True)
                url = prepare(run, workdir)
                print(f"{run}: benchmarking", flush=True)
                if args.ops:
                    results.append(bench_ops(run, url, args.duration, log, args.ops))
                else:
                    results.append(bench(run, url, args.duration, log))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.ops:
        text = ops_report(results, version=version, duration_s=args.duration)
        (results_dir / f"ops-{stamp}.md").write_text(text, encoding="utf-8")
        print(text + f"\nWritten to bench/results/ops-{stamp}.md")
        return
    setup = (
        f"gunicorn -w {WORKERS} sync; wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{args.duration}s "
        f"after a {WARMUP_S} s warm-up ({WARMUP_100K_S} s at 100k); nearest = `limit=10` at "
        "uniform random positions in lat 22.45–22.85, lng 113.78–114.55."
    )
    text = report(results, version=version, setup=setup)
    (results_dir / f"{stamp}.md").write_text(text, encoding="utf-8")
    print(text + f"\nWritten to bench/results/{stamp}.md")


if __name__ == "__main__":
    main()
