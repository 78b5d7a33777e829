"""Every setting read from the environment: its name, default and check, in one table.

No other module reads os.environ. The README's Configuration section lists the same names.
A test configuration passed to create_app() overrides these values.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO = ("false", "0", "no", "off")


class ConfigError(RuntimeError):
    """An environment variable holds a value the app cannot use."""


def flag(text):
    """A yes/no setting: false, 0, no and off (any case) mean no, anything else yes."""
    return text.strip().lower() not in NO


def whole_number(text):
    """A whole number of 0 or more."""
    if not text.strip().isdigit():
        raise ValueError("must be a whole number of 0 or more")
    return int(text)


def seconds(text):
    """A number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise ValueError("must be a number of seconds, 0 or more")
    return value


def text_or_none(text):
    """A string, or None when empty."""
    return text.strip() or None


def database_url(text):
    """The SQLAlchemy URL: postgres:// and postgresql:// go through psycopg 3."""
    url = text.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_urls(text):
    """Several SQLAlchemy URLs separated by commas (each as database_url), as a tuple."""
    urls = tuple(database_url(part) for part in text.split(",") if part.strip())
    if not urls:
        raise ValueError("must be one database URL or several separated by commas")
    return urls


@dataclass(frozen=True)
class Setting:
    """One environment variable: the config key it sets, its default (when unset or empty, a
    value or a function of the instance folder) and how its text is read."""

    name: str
    default: Any
    read: Callable[[str], Any] = str
    key: str = ""

    @property
    def config_key(self):
        return self.key or self.name


SETTINGS = (
    Setting(
        "DATABASE_URL",
        lambda instance: "sqlite:///" + os.path.join(instance, "stations.sqlite"),
        database_url,
        key="SQLALCHEMY_DATABASE_URI",
    ),
    # Read replicas (PostgreSQL hot standbys) for the public reads; none: all from DATABASE_URL.
    Setting("DATABASE_REPLICA_URL", (), database_urls),
    Setting("REPLICA_MAX_LAG_S", 5, seconds),
    # PostgreSQL only: no request waits on the database longer than these (0: no limit).
    Setting("DATABASE_CONNECT_TIMEOUT_S", 5, whole_number),
    Setting("DATABASE_STATEMENT_TIMEOUT_MS", 20000, whole_number),
    Setting("DATABASE_LOCK_TIMEOUT_MS", 5000, whole_number),
    Setting("SECRET_KEY", None, text_or_none),  # None: generated in instance/ (secret_key.py)
    Setting("SESSION_COOKIE_SECURE", False, flag),
    Setting("TRUSTED_PROXIES", 0, whole_number),
    Setting("REDIS_URL", None, text_or_none),
    Setting("RATELIMIT_FILE", lambda instance: os.path.join(instance, "limits.sqlite")),
    Setting("RATELIMIT_ENABLED", True, flag),
    Setting("API_LIMIT_PER_IP", "120 per minute"),
    Setting("LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes"),
    Setting("LOGIN_LIMIT_PER_IP", "20 per 15 minutes"),
    Setting("REPORT_LIMIT_PER_IP", "5 per hour"),
    Setting("REPORT_LIMIT_PER_STATION", "30 per hour"),
    Setting("CHECKIN_LIMIT_PER_IP", "30 per hour"),
    Setting("CHECKIN_LIMIT_PER_STATION", "120 per hour"),
    Setting("API_KEY_CACHE_S", 10, seconds),
    Setting("API_KEY_USAGE_FLUSH_S", 10, seconds),
    Setting("COVERAGE_ENABLED", True, flag),
    Setting("COVERAGE_GAP_M", 1000, whole_number),
    Setting("COVERAGE_FLUSH_S", 5, seconds),
    Setting("CORS_ORIGINS", "*"),
    Setting("LOG_FORMAT", "text", lambda text: text.strip().lower()),
    Setting("METRICS_ALLOW_FROM", ""),
    # Set by deploy/gunicorn.conf.py for its workers: where each writes its metrics.
    Setting("PROMETHEUS_MULTIPROC_DIR", None, text_or_none),
    Setting("MAP_TILES", "gaode"),
    Setting("MAP_TILE_URL", ""),
    Setting("TIANDITU_KEY", ""),
)


def from_environment(instance_path, environ=None):
    """The config values of every setting, from the environment or their defaults."""
    environ = os.environ if environ is None else environ
    values = {}
    for setting in SETTINGS:
        text = environ.get(setting.name, "")
        if not text.strip():
            default = setting.default
            values[setting.config_key] = default(instance_path) if callable(default) else default
            continue
        try:
            values[setting.config_key] = setting.read(text)
        except ValueError as error:
            raise ConfigError(f"{setting.name}={text!r}: {error}") from None
    return values


def child_environment(**extra):
    """The environment for a child process (a database client tool), with `extra` added."""
    return {**os.environ, **extra}
