"""What API keys and rate limits cost in CPU per request, through the test client (no HTTP).

A benchmark, run by hand (not a test), the steadier companion of bench/keys.py:

    /work/venv/bin/python bench/limits_cpu.py [--processes 3] [--requests 1000] [--passes 3]
    /work/venv/bin/python bench/limits_cpu.py --profile redis    # cProfile of one setup

It loads the sample into the PostgreSQL database stations_bench_limits with an API key (its
limit out of reach), then starts one process per setup, --processes times in turn: limits off
and no key; keyed with limits in memory; keyed with limits in Redis (BENCH_REDIS_URL). Each
process sends the same --requests nearest requests (limit 10, random Shenzhen positions, seeded)
--passes times through Flask's test client after a warm-up, and keeps its best pass: the CPU
time of the process (time.process_time, all its threads) plus, with Redis, Redis's own CPU
(INFO cpu), per request. The database's CPU is not counted: keys and limits do not touch it
once a key is remembered. Prints each setup's best process, the range, and the overhead over
limits off. Without HTTP, gunicorn and wrk, the noise of the shared machine shrinks to a few
per cent; the figure is the app's own work, smaller than bench/keys.py's server CPU.
"""

import argparse
import cProfile
import json
import pstats
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from keys import REDIS_URL, app_env, prepare, redis_cpu_s

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "stations_bench_limits"
SETUPS = {
    "off": ({"RATELIMIT_ENABLED": "false"}, False),
    "memory": ({}, True),
    "redis": ({"REDIS_URL": REDIS_URL}, True),
}


def paths(count):
    """The same nearest requests every time: seeded positions in the wrk.lua box."""
    rng = random.Random(20261127)
    return [
        f"/api/v1/stations/nearest?lat={22.45 + rng.random() * 0.40:.6f}"
        f"&lng={113.78 + rng.random() * 0.77:.6f}&limit=10"
        for _ in range(count)
    ]


def one_pass(client, requests, headers, env):
    """CPU seconds (this process, plus Redis when it counts) to send the requests once."""
    redis_before, before = redis_cpu_s(env), time.process_time()
    for path in requests:
        client.get(path, headers=headers)
    return time.process_time() - before + redis_cpu_s(env) - redis_before


def child(args):
    """One setup in this process: print its best pass as JSON, or its profile."""
    sys.path.insert(0, str(ROOT))
    from stations import create_app

    settings, keyed = SETUPS[args.child]
    env = app_env(args.database, **settings)
    client = create_app().test_client()
    headers = {"X-API-Key": args.key} if keyed else {}
    requests = paths(args.requests)
    response = client.get(requests[0], headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert ("RateLimit-Limit" in response.headers) == (args.child != "off")
    one_pass(client, requests, headers, env)  # warm-up
    if args.profile:
        profile = cProfile.Profile(time.process_time)
        profile.runcall(one_pass, client, requests, headers, env)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    best_s = min(one_pass(client, requests, headers, env) for _ in range(args.passes))
    print(json.dumps({"ms": 1000 * best_s / len(requests)}))


def run_child(setup, url, key, args):
    """Start one process for a setup; its output."""
    settings, _ = SETUPS[setup]
    command = [sys.executable, __file__, "--child", setup, "--database", url, "--key", key]
    command += ["--requests", str(args.requests), "--passes", str(args.passes)]
    if args.profile:
        command += ["--profile", setup]
    done = subprocess.run(
        command, cwd=ROOT, env=app_env(url, **settings), capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"{setup} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="processes per setup, in turn")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=3, help="passes per process; best kept")
    parser.add_argument("--profile", choices=SETUPS, help="cProfile one pass of this setup")
    parser.add_argument("--child", choices=SETUPS, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="stations-limits-") as workdir:
        url, key = prepare("postgis", workdir, database=DATABASE)
    if args.profile:
        return print(run_child(args.profile, url, key, args))
    ms = {setup: [] for setup in SETUPS}
    for _ in range(args.processes):
        for setup in SETUPS:
            ms[setup].append(json.loads(run_child(setup, url, key, args))["ms"])
    for setup, values in ms.items():
        extra = f", {min(values) - min(ms['off']):+.3f} ms over off" if setup != "off" else ""
        others = ", ".join(f"{value:.3f}" for value in sorted(values))
        print(f"{setup:>6}: {min(values):.3f} ms/request (processes: {others}){extra}")


if __name__ == "__main__":
    main()
