"""What API keys and rate limits cost in CPU per request, through the test client (no HTTP).

A benchmark, run by hand (not a test), the steadier companion of bench/keys.py:

    .venv/bin/python bench/limits_cpu.py [--rounds 10] [--requests 1000]
    .venv/bin/python bench/limits_cpu.py --profile redis    # cProfile of one setup

It loads the sample into the PostgreSQL database stations_bench_limits with an API key (its
limit out of reach) and starts one process per setup: limits off and no key; keyed with limits
in memory; keyed with limits in Redis (BENCH_REDIS_URL). After a warm-up the processes take
turns, --rounds times, each sending the same --requests nearest requests (limit 10, random
Shenzhen positions, seeded) through Flask's test client and counting the CPU time of the
process (time.process_time, all its threads) plus, with Redis, Redis's own (INFO cpu), per
request. The database's CPU is not counted: keys and limits do not touch it once a key is
remembered. Taking turns, the setups meet the same load from others on the shared machine; the
overhead of each setup over limits off is the median of the differences between neighbouring
turns. Prints, per setup, the best and the median turn and that overhead. Without HTTP,
gunicorn and wrk the figure is the app's own work, smaller than bench/keys.py's server CPU.
"""

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from subprocess import PIPE, Popen

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


def one_pass(client, requests, environ, env):
    """CPU seconds (this process, plus Redis when it counts) to send the requests once."""
    redis_before, before = redis_cpu_s(env), time.process_time()
    for path in requests:
        client.get(path, environ_base=environ)
    return time.process_time() - before + redis_cpu_s(env) - redis_before


def child(args):
    """One setup in this process: a pass for each line read, its ms per request written back."""
    sys.path.insert(0, str(ROOT))
    from stations import create_app

    settings, keyed = SETUPS[args.child]
    env = app_env(args.database, **settings)
    client = create_app().test_client()
    # In the environ, as a server would put it: the test client's own work on headers= would
    # count against the keyed setups.
    environ = {"HTTP_X_API_KEY": args.key} if keyed else {}
    requests = paths(args.requests)
    response = client.get(requests[0], environ_base=environ)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert ("RateLimit-Limit" in response.headers) == (args.child != "off")
    one_pass(client, requests, environ, env)  # warm-up
    if args.profile:
        profile = cProfile.Profile(time.process_time)
        profile.runcall(one_pass, client, requests, environ, env)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    print("ready", flush=True)
    for _ in sys.stdin:
        print(1000 * one_pass(client, requests, environ, env) / len(requests), flush=True)


def start_child(setup, url, key, args):
    """A process for one setup, once it is warm."""
    settings, _ = SETUPS[setup]
    command = [sys.executable, __file__, "--child", setup, "--database", url, "--key", key]
    command += ["--requests", str(args.requests)]
    if args.profile:
        command += ["--profile", setup]
    process = Popen(
        command, cwd=ROOT, env=app_env(url, **settings), text=True, stdin=PIPE, stdout=PIPE
    )
    first = process.stdout.readline()
    if args.profile:
        return print(first + process.stdout.read())
    if first.strip() != "ready":
        sys.exit(f"{setup} did not start")
    return process


def turn(process):
    """One pass of a setup's process: CPU ms per request."""
    process.stdin.write("pass\n")
    process.stdin.flush()
    return float(process.stdout.readline())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="turns of each setup")
    parser.add_argument("--requests", type=int, default=1000, help="requests per turn")
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
        return start_child(args.profile, url, key, args)
    processes = {setup: start_child(setup, url, key, args) for setup in SETUPS}
    ms = {setup: [] for setup in SETUPS}
    try:
        for _ in range(args.rounds):
            for setup, process in processes.items():
                ms[setup].append(turn(process))
    finally:
        for process in processes.values():
            process.stdin.close()
            process.wait()
    for setup, values in ms.items():
        over = [value - off for value, off in zip(values, ms["off"], strict=True)]
        extra = f", {median(over):+.3f} ms over off" if setup != "off" else ""
        print(f"{setup:>6}: best {min(values):.3f}, median {median(values):.3f} ms/request{extra}")


if __name__ == "__main__":
    main()
