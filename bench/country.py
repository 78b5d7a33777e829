"""Benchmark the app on a nationwide PostGIS database against a bare Flask app (bench/bare.py).

Both are served by gunicorn with the app's own settings (deploy/gunicorn.conf.py: sync workers,
as many as it picks for the machine, access log on), on 127.0.0.1. The database is prepared
beforehand (bench/README.md: bench/make_country.py) and kept: loading a million stations is
the heavy part. Runs, each after a warm-up:

- bare: GET /bare of bench/bare.py (the ceiling);
- nearest-country: /nearest (limit 10) within 0.3 degree of ten big cities' centres;
- nearest: /nearest at random positions over Shenzhen (bench/run.py's positions);
- box-* and markers-*: the box list (JSON, 100 a page) and the rider map's markers request
  (GeoJSON, 500) for a zoom-13 view over central Shenzhen or central Shanghai, with 2
  connections (the latency of one request, not of a queue);

then the workers' peak RSS and, with --sql, bench/nearest_sql.py over the same database. Prints
a Markdown report and writes it to bench/results/country-<timestamp>.md.
"""

import argparse
import os
import signal
import subprocess
import sys
from datetime import datetime

from procfs import cpu_snapshot, worker_peak_rss_mb
from run import BENCH, PG_ROOT_URL, ROOT, app_env, free_port, nearest_sql, stop, wait_until_up
from run import wrk as run_wrk

CONF = ROOT / "deploy" / "gunicorn.conf.py"
LATENCY_CONNECTIONS = 2
MAP_RUNS = ("box-shenzhen", "box-shanghai", "markers-shenzhen", "markers-shanghai")


def wrk_run(*args, **kwargs):
    """bench/run.py's wrk, without waiting for a quiet machine: on a machine shared by several
    people it seldom comes, so each run notes the load average instead."""
    return run_wrk(*args, **kwargs, quiet_wait=False)


def start(app, env, port, log, *, chdir=ROOT):
    """gunicorn with deploy/gunicorn.conf.py on 127.0.0.1:port, in a process group of its own."""
    command = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "-b", f"127.0.0.1:{port}"]
    command += ["--chdir", str(chdir), app]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )


def load():
    """The machine's 1-minute load average, as `uptime` shows it."""
    return os.getloadavg()[0]


def measure(server, port, runs, duration_s, database, label=None):
    """{scenario (or label): wrk stats | {"load": ...}} for each (scenario, connections)."""
    results = {}
    for scenario, connections in runs:
        before, workers_before = load(), cpu_snapshot(server.pid, None)[2]
        stats = wrk_run(server, port, scenario, duration_s, database, connections=connections)
        # server_ms counts the workers and their PostgreSQL backends: split it.
        worker_ms = 1000 * (cpu_snapshot(server.pid, None)[2] - workers_before) / stats["requests"]
        results[label or scenario] = stats | {
            "load": (before + load()) / 2,
            "connections": connections,
            "worker_ms": worker_ms,
            "database_ms": stats["server_ms"] - worker_ms,
        }
        print(
            f"  {scenario}: {stats['rps']:.0f} req/s, p99 {stats['p99_us'] / 1000:.1f} ms, "
            f"CPU {worker_ms:.2f} + {stats['server_ms'] - worker_ms:.2f} ms/req",
            flush=True,
        )
    return results


def bench(database, duration_s, warmup_s, log):
    """Both servers up at once; each nearest run right after a bare run of its own (the machine's
    load moves from minute to minute: a ratio is only fair between neighbours in time)."""
    bare_port, app_port = free_port(), free_port()
    bare = start("bare:app", app_env(""), bare_port, log, chdir=BENCH)
    app = start("app:app", app_env(f"{PG_ROOT_URL}/{database}"), app_port, log)
    results = {}
    try:
        wait_until_up(bare, bare_port, path="/bare")
        wait_until_up(app, app_port)
        workers = set(worker_peak_rss_mb(app.pid))
        wrk_run(bare, bare_port, "bare", warmup_s)
        for scenario in ("nearest-country", "nearest", *MAP_RUNS):
            wrk_run(app, app_port, scenario, warmup_s)
        for scenario in ("nearest-country", "nearest"):
            label = f"bare-{scenario}"
            results |= measure(bare, bare_port, [("bare", 16)], duration_s, None, label)
            results |= measure(app, app_port, [(scenario, 16)], duration_s, database)
        runs = [(scenario, LATENCY_CONNECTIONS) for scenario in MAP_RUNS]
        results |= measure(app, app_port, runs, duration_s, database)
        peaks = worker_peak_rss_mb(app.pid)
    finally:
        stop(app)
        stop(bare)
    if set(peaks) != workers:
        print(f"  warning: workers changed during the run ({workers} -> {set(peaks)})")
    return results, peaks


def report(database, results, peaks, sql, version, duration_s):
    lines = [
        f"# Nationwide benchmark: `{database}`, {datetime.now():%Y-%m-%d %H:%M}, commit {version}",
        "",
        f"gunicorn -c deploy/gunicorn.conf.py ({len(peaks)} sync workers); wrk -d{duration_s}s; "
        "load = the 1-minute load average during the run (2 cores, shared machine).",
        "",
        "app CPU and database CPU: CPU time of the gunicorn workers, and of their PostgreSQL "
        "backends, per request (from /proc; hardly moved by other load). % of bare by CPU: the "
        "bare app's CPU per request over the scenario's (app + database). Each % is against "
        "the bare run just before (bare-<scenario>), with both servers up all along.",
        "",
        "| scenario | connections | req/s | % of bare | p50 ms | p99 ms | app CPU ms/req "
        "| database CPU ms/req | % of bare by CPU | non-2xx | others' CPU | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario, stats in results.items():
        if scenario.startswith("bare"):
            bare_rps, bare_ms = stats["rps"], stats["server_ms"]
        lines.append(
            f"| {scenario} | {stats['connections']} | {stats['rps']:.0f} | "
            f"{100 * stats['rps'] / bare_rps:.0f} % | {stats['p50_us'] / 1000:.1f} | "
            f"{stats['p99_us'] / 1000:.1f} | {stats['worker_ms']:.2f} | "
            f"{stats['database_ms']:.2f} | {100 * bare_ms / stats['server_ms']:.0f} % | "
            f"{stats['non_2xx'] + stats['socket_errors']} | {stats['others_pct']:.0f} % | "
            f"{stats['load']:.1f} |"
        )
    rss = ", ".join(f"{mb:.0f}" for mb in sorted(peaks.values()))
    lines += ["", f"Worker peak RSS (VmHWM), MB: {rss}."]
    if sql:
        lines += [
            "",
            f"Nearest SQL ({sql['queries']} positions, EXPLAIN ANALYZE): execution p50 "
            f"{sql['exec_p50_ms']:.3f} ms, p99 {sql['exec_p99_ms']:.3f} ms; planning p50 "
            f"{sql['plan_p50_ms']:.3f} ms, p99 {sql['plan_p99_ms']:.3f} ms; indexes "
            f"{', '.join(sql['indexes'])}.",
        ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="a prepared PostgreSQL database, e.g. bench_country_1m")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk scenario")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per scenario")
    parser.add_argument("--sql", action="store_true", help="also run bench/nearest_sql.py")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks run
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    version = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    with open(results_dir / f"country-{stamp}-gunicorn.log", "w") as log:
        print(f"bare and app on {args.database} (load {load():.2f})", flush=True)
        results, peaks = bench(args.database, args.duration, args.warmup, log)
    sql = None
    if args.sql:
        options = ("--area", "cities", "--positions", "500")
        sql = nearest_sql(f"{PG_ROOT_URL}/{args.database}", *options)
    text = report(args.database, results, peaks, sql, version, args.duration)
    (results_dir / f"country-{stamp}.md").write_text(text, encoding="utf-8")
    print(text + f"\nWritten to bench/results/country-{stamp}.md")


if __name__ == "__main__":
    main()
