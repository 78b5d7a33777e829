"""Settings: one module reads the environment, every setting is in the README, bad values stop
the app with a message naming the variable."""

import ast
import re
from pathlib import Path

import pytest

from stations import config, create_app

PACKAGE = Path(config.__file__).parent
README = Path(config.ROOT, "README.md").read_text()


def _reads_environment(tree):
    """Whether a module's code names os.environ, os.getenv or os.putenv."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ("environ", "getenv", "putenv")
        ):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in ("environ", "getenv") for alias in node.names):
                return True
    return False


def test_only_config_reads_the_environment():
    readers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if _reads_environment(ast.parse(path.read_text()))
    }
    assert readers == {"config.py"}


def test_every_setting_is_in_the_readme_configuration_table():
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    assert {setting.name for setting in config.SETTINGS} - listed == set()


def test_defaults_when_nothing_is_set(tmp_path):
    values = config.from_environment(str(tmp_path), environ={})
    assert values["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/stations.sqlite"
    assert values["SECRET_KEY"] is None
    assert values["RATELIMIT_ENABLED"] is True
    assert values["TRUSTED_PROXIES"] == 0
    assert values["API_LIMIT_PER_IP"] == "120 per minute"
    assert values["MAP_TILES"] == "gaode"
    assert values["DATABASE_REPLICA_URL"] == ()
    assert values["REPLICA_MAX_LAG_S"] == 5


@pytest.mark.parametrize(
    ("environ", "key", "expected"),
    [
        (
            {"DATABASE_URL": "postgres://u@h/db"},
            "SQLALCHEMY_DATABASE_URI",
            "postgresql+psycopg://u@h/db",
        ),
        (
            {"DATABASE_URL": "postgresql://u@h/db"},
            "SQLALCHEMY_DATABASE_URI",
            "postgresql+psycopg://u@h/db",
        ),
        ({"DATABASE_URL": "sqlite:////x.db"}, "SQLALCHEMY_DATABASE_URI", "sqlite:////x.db"),
        ({"RATELIMIT_ENABLED": "Off"}, "RATELIMIT_ENABLED", False),
        ({"RATELIMIT_ENABLED": "yes"}, "RATELIMIT_ENABLED", True),
        ({"SESSION_COOKIE_SECURE": "true"}, "SESSION_COOKIE_SECURE", True),
        ({"SESSION_COOKIE_SECURE": "0"}, "SESSION_COOKIE_SECURE", False),
        ({"TRUSTED_PROXIES": "2"}, "TRUSTED_PROXIES", 2),
        ({"REDIS_URL": " redis://h:6379/0 "}, "REDIS_URL", "redis://h:6379/0"),
        ({"REDIS_URL": "  "}, "REDIS_URL", None),
        ({"API_KEY_CACHE_S": "2.5"}, "API_KEY_CACHE_S", 2.5),
        (
            {"DATABASE_REPLICA_URL": "postgres://u@r1/db"},
            "DATABASE_REPLICA_URL",
            ("postgresql+psycopg://u@r1/db",),
        ),
        (
            {"DATABASE_REPLICA_URL": " postgresql://u@r1/db , postgresql://u@r2:5433/db,"},
            "DATABASE_REPLICA_URL",
            ("postgresql+psycopg://u@r1/db", "postgresql+psycopg://u@r2:5433/db"),
        ),
        ({"REPLICA_MAX_LAG_S": "0.5"}, "REPLICA_MAX_LAG_S", 0.5),
        ({}, "DATABASE_CONNECT_TIMEOUT_S", 5),
        ({}, "DATABASE_STATEMENT_TIMEOUT_MS", 20000),
        ({}, "DATABASE_LOCK_TIMEOUT_MS", 5000),
        ({"DATABASE_STATEMENT_TIMEOUT_MS": "0"}, "DATABASE_STATEMENT_TIMEOUT_MS", 0),
        ({"DATABASE_LOCK_TIMEOUT_MS": " 250 "}, "DATABASE_LOCK_TIMEOUT_MS", 250),
    ],
)
def test_values_are_read_and_checked(tmp_path, environ, key, expected):
    assert config.from_environment(str(tmp_path), environ=environ)[key] == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRUSTED_PROXIES", "one"),
        ("TRUSTED_PROXIES", "-1"),
        ("API_KEY_CACHE_S", "soon"),
        ("API_KEY_USAGE_FLUSH_S", "-3"),
        ("API_KEY_USAGE_FLUSH_S", "nan"),
        ("DATABASE_REPLICA_URL", " , ,"),
        ("REPLICA_MAX_LAG_S", "-1"),
        ("DATABASE_CONNECT_TIMEOUT_S", "2.5"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "20s"),
        ("DATABASE_LOCK_TIMEOUT_MS", "-1"),
    ],
)
def test_a_bad_value_stops_the_app_naming_the_variable(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=f"^{name}="):
        create_app(instance_path=str(tmp_path))


def test_the_test_configuration_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MAP_TILES", "osm")
    app = create_app({"MAP_TILES": "none"}, instance_path=str(tmp_path))
    assert app.config["MAP_TILES"] == "none"
