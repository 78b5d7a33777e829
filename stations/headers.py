"""Security headers on every response, by Flask-Talisman: a Content-Security-Policy that lets
pages load from their own origin and the basemap's tile host only, no framing, no MIME sniffing,
a referrer policy, a permissions policy, and HSTS on HTTPS requests.
"""

from flask_talisman import DENY, Talisman

from .rider.folium_map import tile_origins, tiles_for

# The JSON (and CSV) API: nothing in an answer is to be run, styled, loaded or framed.
API_POLICY = {"default-src": "'none'", "frame-ancestors": "'none'"}
HTML_UNDER_API = {"docs.guide"}  # the developer guide is a page
HSTS_MAX_AGE_S = 365 * 24 * 3600


def page_policy(config):
    """The pages' CSP for this configuration (MAP_TILES, MAP_TILE_URL), read at start-up.

    Talisman adds each request's nonce to script-src: the map's inline script carries it.
    """
    return {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        # data: is Leaflet's blank image, put in a tile's place when its loading is cancelled.
        "img-src": ["'self'", "data:", *tile_origins(tiles_for(config))],
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def init_app(app):
    """Set the headers on every response; call once the blueprints are registered."""
    talisman = Talisman(
        app,
        # TLS ends at the proxy; with TRUSTED_PROXIES set, request.is_secure tells HTTPS.
        force_https=False,
        strict_transport_security=True,
        strict_transport_security_max_age=HSTS_MAX_AGE_S,
        # Other hosts of the domain are not ours to vouch for.
        strict_transport_security_include_subdomains=False,
        frame_options=DENY,
        content_security_policy=page_policy(app.config),
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="strict-origin-when-cross-origin",
        permissions_policy={"geolocation": "(self)"},
        # The session cookie is auth.py's: leave its settings as they are.
        session_cookie_secure=False,
        session_cookie_http_only=app.config["SESSION_COOKIE_HTTPONLY"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
    api_options = {"content_security_policy": API_POLICY, "content_security_policy_nonce_in": []}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint not in HTML_UNDER_API:
            talisman(**api_options)(app.view_functions[rule.endpoint])
