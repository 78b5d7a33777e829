"""Rate limits (Flask-Limiter): in memory on one machine, in Redis (REDIS_URL) across several."""

import os

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)

DEFAULTS = {
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per 15 minutes",
    "LOGIN_LIMIT_PER_IP": "20 per 15 minutes",
    "REPORT_LIMIT_PER_IP": "5 per hour",
    "REPORT_LIMIT_PER_STATION": "30 per hour",
}


def configured(name):
    """A limit string taken from the app's config when the request comes (tests may change it)."""
    return lambda: current_app.config[name]


def init_app(app):
    """Bind the limiter; RATELIMIT_ENABLED=false in the environment turns every limit off."""
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, os.environ.get(name, value))
    app.config.setdefault(
        "RATELIMIT_ENABLED", os.environ.get("RATELIMIT_ENABLED", "true").lower() != "false"
    )
    app.config.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
