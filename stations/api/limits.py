"""Rate limits (Flask-Limiter): in memory on one machine, in Redis (REDIS_URL) across several.

The API (/api/v…) counts per caller: a valid API key gets its own per-minute limit, anyone else
their IP address's (API_LIMIT_PER_IP); unknown or revoked keys are refused with 401. Logins and
rider reports have limits of their own (auth.py, api.py). If Redis stops answering, each process
counts in its own memory until Redis is back, and Flask-Limiter's log says so: the app keeps
answering either way.
"""

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from math import ceil

from flask import current_app, request
from flask_limiter import Limit, Limiter, RateLimitExceeded
from flask_limiter.util import get_qualified_name, get_remote_address
from limits import parse

from .. import env_flag
from . import keys, limit_storage
from .problems import problem

DEFAULTS = {
    "API_LIMIT_PER_IP": "120 per minute",
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per 15 minutes",
    "LOGIN_LIMIT_PER_IP": "20 per 15 minutes",
    "REPORT_LIMIT_PER_IP": "5 per hour",
    "REPORT_LIMIT_PER_STATION": "30 per hour",
}
API_PATH = "/api/v"
API_SCOPE = "api"
UNLIMITED_ENDPOINTS = {"api.health", "api.ready"}
# A dead Redis must cost a request little: Flask-Limiter then retries it with growing pauses.
REDIS_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
_CALLER = "stations.api_caller"
_COUNTED = "stations.api_counted"


def configured(name):
    """A limit string taken from the app's config when the request comes (tests may change it)."""
    return lambda: current_app.config[name]


@dataclass(frozen=True)
class Caller:
    """The caller of an API request: a valid key's id, limit and prefix, or why the key failed."""

    key_id: int | None = None
    per_minute: int | None = None
    prefix: str | None = None
    error: str | None = None


def current_caller():
    """The caller of this request, worked out once (kept on the request: `g` can outlive it)."""
    environ = request.environ
    caller = environ.get(_CALLER)
    if caller is None:
        caller = environ[_CALLER] = _identify(environ)
    return caller


def _presented_token(environ):
    """The key sent as X-API-Key or as a Bearer token; None when there is none."""
    # The WSGI environ itself: request.headers would read the same, more slowly.
    token = environ.get("HTTP_X_API_KEY")
    if token is not None:
        return token.strip()
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _identify(environ):
    token = _presented_token(environ)
    if token is None:
        return Caller()
    key = keys.key_for_token(token) if token else None
    if key is None:
        return Caller(error="The API key is not known. Check that it was copied whole.")
    if key.revoked_at is not None:
        return Caller(error=f"The API key {key.prefix}… has been revoked.")
    return Caller(key_id=key.id, per_minute=key.per_minute, prefix=key.prefix)


def _is_api():
    environ = request.environ  # read once: each attribute of `request` is a lookup
    return environ["PATH_INFO"].startswith(API_PATH) and environ["REQUEST_METHOD"] != "OPTIONS"


def _api_key_or_address():
    caller = current_caller()
    return f"key:{caller.key_id}" if caller.key_id else f"ip:{get_remote_address()}"


def _api_limit():
    per_minute = current_caller().per_minute
    return f"{per_minute} per minute" if per_minute else current_app.config["API_LIMIT_PER_IP"]


def _breach_message():
    caller = current_caller()
    who = f"the API key {caller.prefix}…" if caller.key_id else "your IP address without a key"
    return (
        f"Too many requests from {who}: the limit is {_api_limit()}. "
        "Try again after the number of seconds in Retry-After."
    )


@lru_cache(maxsize=4096)
def _counted_as(limit, who, key_prefix):
    """(limits item, storage key) of a caller's count under a limit string: worked out once per
    caller (parsed on each request, the limit alone costs as much as the count)."""
    item = parse(limit)
    identifiers = (key_prefix, who, API_SCOPE) if key_prefix else (who, API_SCOPE)
    return item, item.key_for(*identifiers)


@lru_cache(maxsize=256)
def _header_values(item):
    """RateLimit-Limit and RateLimit-Policy for a limits item."""
    return str(item.amount), f"{item.amount};w={item.get_expiry()}"


_API_LIMIT = Limit(
    _api_limit,
    key_function=_api_key_or_address,
    scope=API_SCOPE,
    shared=True,
    exempt_when=lambda: not _is_api() or request.endpoint in UNLIMITED_ENDPOINTS,
    error_message=_breach_message,
)


class _Limiter(Limiter):
    """Flask-Limiter, with a short way for the API's own limit, the one each API request meets.

    For each request Flask-Limiter works out afresh which limits apply (blueprints, exemptions,
    decorated views, the limit string parsed again): more work than the count itself. An API view
    without limits of its own has only the caller's: that one is counted here, in Flask-Limiter's
    storage under the key Flask-Limiter gives it, and the window is read in the same step
    (limit_storage.py). Other requests, and all of them while the storage is down (so that
    Flask-Limiter counts in memory, says so and notices the storage's return), go its own way.
    """

    def init_app(self, app):
        """Flask-Limiter's init_app, with its request hooks; after a request counted here, its
        after-request and teardown hooks (which look at limits of its own) are skipped."""
        # Flask-Limiter adds its hooks to an app that does not list it yet (4.1: init_app).
        app.extensions.setdefault("limiter", set()).add(self)
        super().init_app(app)
        if self.enabled:
            app.before_request(self._check_request_limit)
            app.after_request(self._after_request)
            app.teardown_request(self._teardown_request)

    def _after_request(self, response):
        if _COUNTED in request.environ:
            return response
        return self._Limiter__inject_headers(response)  # its private hook, by its mangled name

    def _teardown_request(self, error=None):
        if _COUNTED not in request.environ:
            self._Limiter__release_context(error)

    def _check_request_limit(self, callable_name=None, in_middleware=True):
        if not (in_middleware and self._count_api_request()):
            super()._check_request_limit(callable_name, in_middleware)

    def _count_api_request(self):
        """Count an API request against its caller's limit; False to leave it to Flask-Limiter."""
        if not (self.enabled and _is_api()) or self._storage_dead:
            return False
        endpoint = request.endpoint
        if endpoint is None or endpoint in UNLIMITED_ENDPOINTS:
            return True  # no view (404, 405) or the health endpoint: nothing to count
        if get_qualified_name(current_app.view_functions[endpoint]) in self._marked_for_limiting:
            return False  # limits of its own (which replace the API's)
        try:
            who = _api_key_or_address()
            item, key = _counted_as(_api_limit(), who, self._key_prefix)
            counted = limit_storage.hit_key(self.limiter, item, key)
        except Exception:  # a bad limit or a storage down: Flask-Limiter's way handles both
            return False
        request.environ[_COUNTED] = (item, *counted)
        if not counted[0]:
            self.logger.info("ratelimit %s (%s) exceeded at endpoint: %s", item, who, API_SCOPE)
            raise RateLimitExceeded(next(iter(_API_LIMIT)))
        return True


limiter = _Limiter(
    key_func=get_remote_address,
    default_limits=[_API_LIMIT],
    headers_enabled=False,  # _add_headers() writes the RateLimit-* fields of the IETF draft
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)


def _refuse_bad_keys():
    """401 for an unknown or revoked key (after the limiter has counted it against the IP)."""
    if _is_api() and current_caller().error:
        response = problem(401, "Unauthorized", current_caller().error)
        response.headers["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
        return response
    return None


def _window():
    """(limit item, remaining, seconds to reset) of this request's count; None if not counted."""
    counted = request.environ.get(_COUNTED)
    if counted is not None:
        item, _, remaining, reset_s = counted
        return item, remaining, reset_s
    current = limiter.current_limit if limiter.enabled else None
    if current is None:
        return None
    try:  # counted by Flask-Limiter: the window is read again
        return current.limit, current.remaining, max(0, ceil(current.window[0] - time.time()))
    except Exception:  # the storage failed after the check: the headers are not worth a 500
        current_app.logger.warning("Rate limit storage unreachable; no RateLimit headers sent")
        return None


def _add_headers(response):
    """RateLimit-* headers (IETF draft: Reset in seconds), Retry-After on 429; count key use."""
    caller = request.environ.get(_CALLER)
    if caller is not None and caller.key_id:
        keys.record_use(caller.key_id)
    window = _window()
    if window is None:
        return response
    item, remaining, reset_s = window
    amount, policy = _header_values(item)
    headers = response.headers  # no view sets these: add() need not look for them first
    headers.add("RateLimit-Limit", amount)
    headers.add("RateLimit-Remaining", str(remaining))
    headers.add("RateLimit-Reset", str(reset_s))
    headers.add("RateLimit-Policy", policy)
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, reset_s))
    return response


def init_app(app):
    """Bind the limiter; RATELIMIT_ENABLED=false in the environment turns every limit off."""
    config = app.config
    for name, value in DEFAULTS.items():
        config.setdefault(name, os.environ.get(name, value))
    config.setdefault("RATELIMIT_ENABLED", env_flag("RATELIMIT_ENABLED", default=True))
    config.setdefault("REDIS_URL", os.environ.get("REDIS_URL", "").strip() or None)
    # limits' memory and Redis storages, as subclassed in limit_storage.py to count for less.
    redis_url = config["REDIS_URL"]
    config.setdefault("RATELIMIT_STORAGE_URI", f"stations+{redis_url or 'memory://'}")
    if config["RATELIMIT_STORAGE_URI"].startswith(("redis", "stations+redis")):
        config.setdefault("RATELIMIT_STORAGE_OPTIONS", REDIS_OPTIONS)
    config.setdefault("RATELIMIT_KEY_PREFIX", "stations")
    # A sliding window (two counters, weighted) allows no double burst at a window's edge; the
    # API's own limit reads it back from the hit (limit_storage.hit_key): at most one Redis
    # round trip.
    config.setdefault("RATELIMIT_STRATEGY", "sliding-window-counter")
    # Flask-Limiter's own logger has only a NullHandler: its "storage unreachable" warning would
    # be lost unless the deployment configured logging. The app's logger writes to stderr.
    limiter.logger = app.logger
    limiter.init_app(app)
    app.before_request(_refuse_bad_keys)
    app.after_request(_add_headers)
