"""The rest-station locator: a Flask app factory."""

import os

from flask import Flask
from flask_compress import Compress
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config, secret_key
from .api import http_cache
from .config import ROOT

compress = Compress()


def create_app(test_config=None, instance_path=None):
    """Create and configure the app (`instance_path`: the instance folder, if not ./instance)."""
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=None,  # assets.py serves every static file, hashed and gzipped
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        config.from_environment(app.instance_path),
        # flask-compress leaves a streamed file (send_file) open; assets.py gzips its own files.
        COMPRESS_STREAMS=False,
    )
    app.json = http_cache.JSONProvider(app)
    if test_config is not None:
        app.config.update(test_config)
    secret_key.init_app(app)  # after test_config: the key checked is the key used

    # Behind N reverse proxies, trust their X-Forwarded-For/-Proto (client IP, HTTPS).
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    from . import assets, cli, headers, i18n, ids, ops, request_size
    from .api import docs, export, feed, keys, limits, problems, views
    from .core import coverage, db
    from .manage import (
        admin_coverage,
        admin_import,
        admin_keys,
        admin_stations,
        admin_users,
        auth,
        my_stations,
    )
    from .rider import folium_map, map_page

    folium_map.check_config(app.config)
    http_cache.init_app(app)
    ops.init_app(app)  # before the other request hooks, to time them
    request_size.init_app(app)  # first of the before-request checks
    ids.init_app(app)
    db.init_app(app)
    cli.init_app(app)
    coverage.init_app(app)
    keys.init_app(app)
    problems.init_app(app)
    i18n.init_app(app)
    compress.init_app(app)
    limits.init_app(app)
    auth.init_app(app)
    auth.csrf.exempt(views.bp)  # the JSON API has no cookie sessions to forge
    blueprints = (views, feed, export, docs, map_page, assets)
    blueprints += (my_stations, admin_stations, admin_users, admin_keys, admin_import)
    blueprints += (admin_coverage,)
    for module in blueprints:
        app.register_blueprint(module.bp)
    headers.init_app(app)  # after the blueprints: the API's views get their own policy
    return app
