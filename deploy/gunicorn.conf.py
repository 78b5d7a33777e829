"""gunicorn settings, as the app is served: by the Procfile, the README's commands and the tests
(tests/servers.py): `gunicorn -c deploy/gunicorn.conf.py app:app`. A command-line option (`-w`,
`-b`) still wins over a value set here. (The benchmarks set their own: no access log.)"""

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

# Where to listen. A platform that runs the Procfile (Heroku, Dokku, Scalingo...) hands the port
# in PORT and routes to it from outside the container, so all interfaces; without PORT, loopback
# only, as the README's first command serves: a reverse proxy (or the developer) in front.
bind = [f"0.0.0.0:{os.environ['PORT']}"] if os.environ.get("PORT") else ["127.0.0.1:8000"]

# Workers: WEB_CONCURRENCY when set (the platforms' convention, as gunicorn itself reads it),
# else gunicorn's rule of thumb of 2 per core plus 1, at most 8 (each worker holds its own copy
# of the station cache, ~90 MB per 100,000 stations). Rate limits are counted once per machine
# (RATELIMIT_FILE) or in Redis, so any number of workers keeps every limit.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * (os.cpu_count() or 1) + 1, 8))
# Sync workers: every request is a short database query; slow clients are nginx's to buffer.
worker_class = "sync"

# Request size. gunicorn's own refusals are bare HTML pages, so its limits sit above the app's
# (stations/request_size.py), which answers an over-long URL with 414 and too many or too large
# header fields with 431, as problem+json on /api. 8190 is the most gunicorn allows for a line.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Timeouts. 30 s kills a stuck worker, yet covers the slowest real request (a worker's first
# nearest search reads every station: ~4 s for 100,000; an admin import of a large list).
timeout = 30
# On SIGTERM (a deploy), requests in flight get this long to finish.
graceful_timeout = 30
# Keep-alive between nginx and gunicorn: a little longer than a request, not a held worker.
keepalive = 5

# Access log to stdout (the platform or systemd collects it); errors to stderr.
accesslog = "-"
errorlog = "-"

# X-Forwarded-For/-Proto are the app's to trust (TRUSTED_PROXIES, werkzeug's ProxyFix), counted
# in hops: gunicorn, which would trust them by address, is told to trust nobody, so that the
# two never disagree about who the client is or whether it came over HTTPS.
forwarded_allow_ips = ""
secure_scheme_headers = {}

# No control socket (gunicorn 25+): its default path is one per user, shared by every gunicorn
# on the machine (the tests start several at once); signals manage the server, as systemd and
# the platforms send them.
control_socket_disable = True

# Probes asked every few seconds would drown the access log: their lines are left out (the
# metrics still count them). gunicorn logs each request with its atoms as the record's args.
PROBE_PATHS = {"/api/v1/health", "/api/v1/ready", "/metrics"}


def _not_a_probe(record):
    return not (isinstance(record.args, Mapping) and record.args.get("U") in PROBE_PATHS)


logging.getLogger("gunicorn.access").addFilter(_not_a_probe)

# LOG_FORMAT=json: gunicorn's own lines as JSON too, on stderr as the app's; its access log off,
# since the app writes one JSON line per request itself (stations/ops/logs.py).
if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    accesslog = None
    logger_class = "stations.ops.logs.GunicornLogger"
    _json = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    logconfig_dict = {
        "root": {"level": "WARNING", "handlers": []},  # each worker's app adds its own
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
        "handlers": {"json": _json},
        "formatters": {"json": {"()": "stations.ops.logs.JSONFormatter"}},
    }

# Metrics (stations/ops/metrics.py): each worker counts into files in PROMETHEUS_MULTIPROC_DIR,
# and a scrape sums them. prometheus_client reads the variable when first imported, so it is set
# here, before any worker loads the app: a directory of this server's own unless one is given.
_metrics_dir_made = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _metrics_dir_made:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stations-metrics-")


def on_starting(server):
    """Start counting from zero: files left by a server before this one are removed."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for left in directory.glob("*.db"):
        left.unlink()


def child_exit(server, worker):
    """A worker's counters stay in the sums; its live gauges (none yet) are dropped."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this server made."""
    if _metrics_dir_made:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
