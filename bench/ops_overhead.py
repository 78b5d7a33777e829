"""What the per-request operations hooks (stations/ops: timing, metrics, request id, and the JSON
log line with LOG_FORMAT=json) cost a nearest request: a test-client loop with and without them.

Usage: PYTHONPATH=. python bench/ops_overhead.py [requests]  (the sample, a temporary SQLite)
"""

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade

from stations import create_app
from stations.cli import SAMPLE_FILE
from stations.core.importer import import_stations

NEAREST = "/api/v1/stations/nearest?lat=22.5431&lng=114.0579"


def _app(folder, log_format):
    url = "sqlite:///" + str(Path(folder) / "bench.sqlite")
    config = {"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "LOG_FORMAT": log_format}
    return create_app(config)


def _loop_us(client, count):
    """µs per request over `count` nearest requests."""
    started = time.perf_counter()
    for _ in range(count):
        assert client.get(NEAREST).status_code == 200
    return (time.perf_counter() - started) / count * 1e6


def _ops_hooks(app):
    """The ops hooks (found by their module): before-request ones, after-request ones."""
    return [
        [f for f in hooks[None] if f.__module__.startswith("stations.ops")]
        for hooks in (app.before_request_funcs, app.after_request_funcs)
    ]


def _hooks_us(app, count):
    """µs per request spent in the ops hooks alone, called in a nearest request's context."""
    before, after = _ops_hooks(app)
    with app.test_request_context(NEAREST):
        responses = [app.response_class("[]", mimetype="application/json") for _ in range(count)]
        started = time.perf_counter()
        for response in responses:
            for hook in before:
                hook()
            for hook in after:
                hook(response)
        return (time.perf_counter() - started) / count * 1e6


def _without_ops(app):
    """The same app less the ops hooks (found by their module)."""
    for hooks in (app.before_request_funcs, app.after_request_funcs):
        hooks[None] = [f for f in hooks[None] if not f.__module__.startswith("stations.ops")]


def main(count=3000, rounds=10):
    with tempfile.TemporaryDirectory() as folder:
        app = _app(folder, "text")
        with app.app_context():
            upgrade()
            import_stations(SAMPLE_FILE, is_sample=True)
        logging.getLogger().handlers.clear()  # the migrations' own (alembic.ini) console handler
        bare = _app(folder, "text")
        _without_ops(bare)
        # Last: the logging setup is the process's, and the last app made sets it.
        sys.stderr = open("/dev/null", "w")  # noqa: SIM115  (the JSON lines are not the point)
        json_app = _app(folder, "json")
        results = {"without": [], "with (text logs)": [], "with (JSON logs)": []}
        clients = {
            "without": bare.test_client(),
            "with (text logs)": app.test_client(),
            "with (JSON logs)": json_app.test_client(),
        }
        for client in clients.values():
            _loop_us(client, 200)  # warm: the station cache, the metrics' label children
        for _ in range(rounds):  # interleaved, so that a busy moment hits all alike
            for name, client in clients.items():
                results[name].append(_loop_us(client, count // rounds))
        base = min(results["without"]), statistics.median(results["without"])
        print(f"{count} nearest requests each, in {rounds} interleaved rounds (µs/request)")
        for name, values in results.items():
            best, median = min(values), statistics.median(values)
            print(
                f"{name:18} best {best:7.1f} (+{best - base[0]:5.1f})  "
                f"median {median:7.1f} (+{median - base[1]:5.1f})"
            )
        print("the hooks alone (no request around them), µs/request:")
        for name in ("with (text logs)", "with (JSON logs)"):
            app_of = app if "text" in name else json_app
            print(f"{name:18} {min(_hooks_us(app_of, count) for _ in range(5)):7.1f}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:2]))
