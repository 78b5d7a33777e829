"""Real app servers for the tests that need them: gunicorn on free 127.0.0.1 ports; Redis."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_environment(**settings):
    """The environment for an app process: ours, less what changes its behaviour, plus these."""
    unset = ("FLASK_ENV", "FLASK_DEBUG", "REDIS_URL", "RATELIMIT_ENABLED", "RATELIMIT_FILE")
    unset += ("CORS_ORIGINS",)
    return {k: v for k, v in os.environ.items() if k not in unset} | settings


@contextmanager
def gunicorn(env, log_path=None, *, workers=1, preload=False, app="app:app", options=()):
    """gunicorn serving `app` as deployed (deploy/gunicorn.conf.py), on a free port, with
    `workers` workers (the app loaded before they fork with `preload`); its base URL, once
    /api/v1/health answers. Its limits are counted in a file of its own unless RATELIMIT_FILE
    (or REDIS_URL) says where: servers one after the other must not share one minute's counts."""
    port = free_port()
    if "RATELIMIT_FILE" not in env:
        counts = tempfile.mkdtemp(prefix="limits-")
        env = env | {"RATELIMIT_FILE": os.path.join(counts, "limits.sqlite")}
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    command = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    command += ["-w", str(workers), "-b", f"127.0.0.1:{port}", *options]
    command += ["--preload", app] if preload else [app]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/api/v1/health", server)
        if workers > 1 and not preload:
            time.sleep(1.5)  # one worker answers: give the others a moment to load the app too
        yield base
    finally:
        os.killpg(server.pid, signal.SIGINT)  # quick shutdown
        server.wait(timeout=30)  # several workers on a busy machine take a while to exit
        if log_path:
            log.close()


def wait_for(url, process, timeout_s=30):
    """Return once url answers; fail if the process exits or it takes too long."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def redis_or_skip(url):
    """A client for the test Redis, with this app's counters cleared; skips if none answers."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {url}; set TEST_REDIS_URL")
    for name in client.scan_iter("LIMITS:*LIMITER/stations/*"):
        client.delete(name)
    return client


@contextmanager
def own_redis_server():
    """A redis-server of the caller's own (never the shared one), on a free port, keeping
    nothing on disk: (url, stop, start)."""
    if not shutil.which("redis-server"):
        if os.environ.get("CI"):
            raise AssertionError("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    process = {}

    def start():
        process["p"] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop():
        process["p"].terminate()
        process["p"].wait(timeout=10)

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", stop, start
    finally:
        if process["p"].poll() is None:
            stop()
