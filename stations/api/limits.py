"""Rate limits, counted with the `limits` library once per machine, or once across several.

The API (/api/v…) counts per caller: a valid API key gets its own per-minute limit, anyone else
their IP address's (API_LIMIT_PER_IP); unknown or revoked keys are refused with 401. Logins and
rider reports have limits of their own (`limited`, in auth.py and api.py). The counts live where
every worker of the machine sees them, a SQLite file in the instance folder (RATELIMIT_FILE),
or in Redis (REDIS_URL) for several app servers (limit_storage.py, limit_stores.py). If that
storage fails, each process counts in its own memory meanwhile, logs it once, and goes back
when it answers.
"""

import functools
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from flask import current_app, request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from werkzeug.exceptions import TooManyRequests

from . import keys, limit_stores
from .limit_storage import CountingStorage, Hit
from .problems import problem

KEY_PREFIX = "stations"
API_PATH = "/api/v"
API_SCOPE = "api"
UNLIMITED_ENDPOINTS = {"api.health", "api.ready"}
# A dead Redis must cost a request little.
REDIS_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
RETRY_STORAGE_S = 1.0  # while the storage fails, how often a process tries it again
_CALLER = "stations.api_caller"
_COUNTED = "stations.counted"
_EXTENSION = "stations.limits"


@dataclass(frozen=True)
class Caller:
    """The caller of an API request: a valid key's id, limit and prefix, or why the key failed."""

    key_id: int | None = None
    per_minute: int | None = None
    prefix: str | None = None
    error: str | None = None


class Counted(NamedTuple):
    """A request counted under a limit: the limit, the hit, and the storage that counted it."""

    item: RateLimitItem
    hit: Hit
    storage: CountingStorage


class RateLimited(TooManyRequests):
    """429: a limit refused the request (the headers come from the count, in _add_headers)."""


class Counter:
    """An app's counts: its configured storage, and a stand-in in this process's memory while
    that fails (logged once per outage; tried again every RETRY_STORAGE_S seconds)."""

    def __init__(self, storage, logger):
        self.storage, self.logger = storage, logger
        self.stand_in = limit_stores.SQLiteStorage("stations+sqlite://")  # in memory
        self.down_until = None  # time.monotonic() before which the storage is not tried

    def hit(self, item, key):
        """Count a request of `key` under `item`: Counted."""
        amount, expiry = item.amount, item.get_expiry()
        if self.down_until is None or time.monotonic() >= self.down_until:
            try:
                counted = Counted(item, self.storage.hit(key, amount, expiry), self.storage)
            except self.storage.base_exceptions as error:
                if self.down_until is None:
                    self.logger.warning(
                        "Rate limit storage unreachable (%s); counting in this process meanwhile",
                        error,
                    )
                self.down_until = time.monotonic() + RETRY_STORAGE_S
            else:
                if self.down_until is not None:
                    self.logger.warning("Rate limit storage answers again")
                    self.down_until = None
                    self.stand_in.reset()
                return counted
        return Counted(item, self.stand_in.hit(key, amount, expiry), self.stand_in)

    def give_back(self, counted):
        """Uncount a request counted by hit (where it was counted, if that still answers)."""
        try:
            counted.storage.give_back(counted.hit)
        except counted.storage.base_exceptions:
            pass  # counted where nothing answers now: it expires with its window

    def reset(self):
        """Forget every count (tests)."""
        self.storage.reset()
        self.stand_in.reset()


def counter():
    """The current app's Counter."""
    return current_app.extensions[_EXTENSION]


def reset_counts():
    """Forget every count of the current app (tests)."""
    counter().reset()


def _enabled():
    return current_app.config["RATELIMIT_ENABLED"]


@lru_cache(maxsize=4096)
def _counted_as(limit, *identifiers):
    """(limits item, storage key) for a limit string and a caller: parsed once, not per request."""
    item = parse(limit)
    return item, item.key_for(KEY_PREFIX, *identifiers)


def remote_address():
    """The caller's IP address (ProxyFix has set it from X-Forwarded-For behind TRUSTED_PROXIES)."""
    return request.remote_addr or "127.0.0.1"


# API requests.


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


def _count_api_request():
    """Count an API request against its caller's limit; 429 over it."""
    if not (_enabled() and _is_api()):
        return
    endpoint = request.endpoint
    if endpoint is None or endpoint in UNLIMITED_ENDPOINTS:
        return  # no view (404, 405) or the health endpoint: nothing to count
    if getattr(current_app.view_functions[endpoint], "limited", False):
        return  # a view with limits of its own (which replace the API's)
    caller = current_caller()
    if caller.key_id:
        limit, who = f"{caller.per_minute} per minute", f"key:{caller.key_id}"
    else:
        limit, who = current_app.config["API_LIMIT_PER_IP"], f"ip:{remote_address()}"
    counted = counter().hit(*_counted_as(limit, who, API_SCOPE))
    request.environ[_COUNTED] = counted
    if not counted.hit.acquired:
        by = f"the API key {caller.prefix}…" if caller.key_id else "your IP address without a key"
        raise RateLimited(
            f"Too many requests from {by}: the limit is {limit}. "
            "Try again after the number of seconds in Retry-After."
        )


def _refuse_bad_keys():
    """401 for an unknown or revoked key (after the request has counted against the IP)."""
    if _is_api() and current_caller().error:
        response = problem(401, "Unauthorized", current_caller().error)
        response.headers["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
        return response
    return None


# Views with limits of their own.


def limited(*rules, message, methods=("POST",), counts=None):
    """Limit a view: each rule is (config name of a limit string, function giving the caller's
    key); a request over any of them is refused with 429 and `message`. With `counts`, a
    response for which counts(response) is false is given back (only failed logins count)."""

    def decorate(view):
        @functools.wraps(view)
        def limited_view(*args, **kwargs):
            if not _enabled() or request.method not in methods:
                return view(*args, **kwargs)
            taken = _count_all(rules, request.endpoint, message)
            response = current_app.make_response(view(*args, **kwargs))
            if counts is not None and not counts(response):
                for counted in taken:
                    counter().give_back(counted)
            return response

        limited_view.limited = True  # the API's own limit leaves it alone
        return limited_view

    return decorate


def _count_all(rules, scope, message):
    """Count the request under each rule; if one refuses, give the others back and refuse."""
    taken = []
    for config_name, key_function in rules:
        item, key = _counted_as(current_app.config[config_name], key_function(), scope)
        counted = counter().hit(item, key)
        if not counted.hit.acquired:
            for other in taken:
                counter().give_back(other)
            request.environ[_COUNTED] = counted
            raise RateLimited(message)
        taken.append(counted)
    # The headers speak of the limit nearest to refusing.
    request.environ[_COUNTED] = min(taken, key=lambda counted: counted.hit.remaining)
    return taken


# Every response.


@lru_cache(maxsize=256)
def _header_values(item):
    """RateLimit-Limit and RateLimit-Policy for a limits item."""
    return str(item.amount), f"{item.amount};w={item.get_expiry()}"


def _add_headers(response):
    """RateLimit-* headers (IETF draft: Reset in seconds), Retry-After on 429; count key use."""
    environ = request.environ
    caller = environ.get(_CALLER)
    if caller is not None and caller.key_id:
        keys.record_use(caller.key_id)
    counted = environ.get(_COUNTED)
    if counted is None:
        return response
    amount, policy = _header_values(counted.item)
    headers = response.headers  # no view sets these: add() need not look for them first
    headers.add("RateLimit-Limit", amount)
    headers.add("RateLimit-Remaining", str(counted.hit.remaining))
    headers.add("RateLimit-Reset", str(counted.hit.reset_s))
    headers.add("RateLimit-Policy", policy)
    if response.status_code == 429:
        headers["Retry-After"] = str(max(1, counted.hit.reset_s))
    return response


def init_app(app):
    """Where the counts live, and the hooks; RATELIMIT_ENABLED=false turns every limit off."""
    config = app.config
    if config["REDIS_URL"]:
        config.setdefault("RATELIMIT_STORAGE_URI", "stations+" + config["REDIS_URL"])
    else:
        config.setdefault("RATELIMIT_STORAGE_URI", "stations+sqlite://" + config["RATELIMIT_FILE"])
    uri = config["RATELIMIT_STORAGE_URI"]
    options = REDIS_OPTIONS if uri.startswith("stations+redis") else {}
    app.extensions[_EXTENSION] = Counter(storage_from_string(uri, **options), app.logger)
    app.before_request(_count_api_request)
    app.before_request(_refuse_bad_keys)
    app.after_request(_add_headers)
