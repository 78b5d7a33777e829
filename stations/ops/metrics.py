"""Prometheus metrics at /metrics: requests, latency, rate-limit refusals, database errors, and
gauges of the data read at scrape time (gauges.py).

Under gunicorn each worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR (set up by
deploy/gunicorn.conf.py), summed at scrape time; without it (flask run, tests) this process's
own counts are served. Only loopback and the networks in METRICS_ALLOW_FROM may read them.
"""

import ipaddress

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .gauges import DataGauges

bp = Blueprint("metrics", __name__)

# Read by prometheus_client itself when it is first imported: here only to know how to serve.
NO_ENDPOINT = "none"  # a request that matched no route (a 404)

# The *_created series say when a process began counting: noise beside gunicorn's restarts.
disable_created_metrics()
_OWN = CollectorRegistry()
REQUESTS = Counter(
    "stations_http_requests",
    "Requests answered, by endpoint and status.",
    ("endpoint", "status"),
    registry=_OWN,
)
LATENCY = Histogram(
    "stations_http_request_duration_seconds",
    "Time from the first to the last of the app's request hooks, by endpoint.",
    ("endpoint",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=_OWN,
)
RATE_LIMITED = Counter(
    "stations_rate_limited",
    "Requests refused with 429 by a rate limit, by endpoint.",
    ("endpoint",),
    registry=_OWN,
)
DATABASE_ERRORS = Counter(
    "stations_database_errors",
    "Database errors met while answering, by exception class (OperationalError, ...).",
    ("error",),
    registry=_OWN,
)
PUBLIC_READS = Counter(
    "stations_public_reads",
    "Public reads (nearest, stations, feed, export, rider page), by the database that answered "
    "them: replica or primary.",
    ("database",),
    registry=_OWN,
)
REPLICA_IN_USE = Gauge(
    "stations_replica_in_use",
    "1 while a read replica takes public reads; 0 while it is left aside (lagging or failing), "
    "in at least one worker.",
    ("replica",),
    registry=_OWN,
    multiprocess_mode="livemin",
)
REPLICA_LAG = Gauge(
    "stations_replica_lag_seconds",
    "How far a read replica was behind the primary at its last check (an upper bound; "
    "+Inf when unknown).",
    ("replica",),
    registry=_OWN,
    multiprocess_mode="livemax",
)
REPLICA_SET_ASIDE = Counter(
    "stations_replica_set_aside",
    "Times a read replica was left aside, by replica and reason (lag or error).",
    ("replica", "reason"),
    registry=_OWN,
)
# Each label set's child, found once: labels() validates and locks on every call.
_children = {}


def _child(metric, *labels):
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe(endpoint, status, duration_s):
    """Count a finished request and time it."""
    endpoint = endpoint or NO_ENDPOINT
    _child(REQUESTS, endpoint, str(status)).inc()
    _child(LATENCY, endpoint).observe(duration_s)
    if status == 429:
        _child(RATE_LIMITED, endpoint).inc()


def count_database_error(error):
    """Count a database error by its class name."""
    _child(DATABASE_ERRORS, type(error).__name__).inc()


def count_public_read(database):
    """Count a public read answered by `database`: "replica" or "primary"."""
    _child(PUBLIC_READS, database).inc()


def replica_checked(replica, *, in_use, lag_s):
    """Set a replica's gauges after a check of it."""
    _child(REPLICA_IN_USE, replica).set(1 if in_use else 0)
    _child(REPLICA_LAG, replica).set(lag_s)


def count_set_aside(replica, reason):
    """Count a replica left aside, for `reason`: "lag" or "error"."""
    _child(REPLICA_SET_ASIDE, replica, reason).inc()


def allowed_networks(text):
    """The networks of a comma-separated list of CIDRs (METRICS_ALLOW_FROM)."""
    try:
        return [ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ValueError(f"METRICS_ALLOW_FROM: {error}") from None


def _may_read(address):
    """True for a loopback address or one in METRICS_ALLOW_FROM."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:127.0.0.1 is 127.0.0.1
    networks = current_app.extensions["stations.metrics_allow_from"]
    return ip.is_loopback or any(ip in network for network in networks)


def _registry():
    """What one scrape reads: every worker's counts (or this process's), and the data gauges."""
    registry = CollectorRegistry()
    if current_app.config["PROMETHEUS_MULTIPROC_DIR"]:
        MultiProcessCollector(registry)
    else:
        registry.register(_OWN)
    registry.register(DataGauges(on_error=count_database_error))
    return registry


@bp.get("/metrics")
def metrics():
    """The metrics in Prometheus's text format, for loopback and allowed networks only."""
    if not _may_read(request.remote_addr):
        abort(404)  # as if there were nothing here
    response = Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app):
    """Read METRICS_ALLOW_FROM and serve /metrics."""
    config = app.config
    app.extensions["stations.metrics_allow_from"] = allowed_networks(config["METRICS_ALLOW_FROM"])
    app.register_blueprint(bp)
