"""The rest-station locator: a Flask app factory."""

import os

from flask import Flask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def database_url(instance_path):
    """The SQLAlchemy URL from DATABASE_URL, or the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "stations.sqlite")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def env_flag(name, *, default):
    """A yes/no environment variable: false, 0, no and off (any case) mean no."""
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in ("false", "0", "no", "off")


def create_app(test_config=None):
    """Create and configure the app."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "dev"),
        SQLALCHEMY_DATABASE_URI=database_url(app.instance_path),
        # The partner API: limits, key use counts, browser access, proxies.
        REDIS_URL=os.environ.get("REDIS_URL", "").strip() or None,
        RATELIMIT_ENABLED=env_flag("RATELIMIT_ENABLED", default=True),
        RATELIMIT_ANONYMOUS_PER_MINUTE=int(os.environ.get("RATELIMIT_ANONYMOUS_PER_MINUTE", 120)),
        API_KEY_USAGE_FLUSH_S=10,
        CORS_ORIGINS=os.environ.get("CORS_ORIGINS", "*"),
        PROXY_COUNT=int(os.environ.get("PROXY_COUNT", 0)),
    )
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if test_config is not None:
        app.config.update(test_config)
    if app.config["SECRET_KEY"] == "dev" and os.environ.get("FLASK_ENV") == "production":
        raise RuntimeError("Set SECRET_KEY: the default secret key is not for production.")

    from . import api, cli, db, docs, feed, keys, limits, pages, problems, web

    web.init_app(app)
    db.init_app(app)
    cli.init_app(app)
    keys.init_app(app)
    limits.init_app(app)
    problems.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(feed.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(pages.bp)
    return app
