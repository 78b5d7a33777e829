"""Logging in and out, and what guards every page: sessions, CSRF, login throttling."""


from flask import (
    Blueprint,
    abort,
    current_app,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from ..api.limits import limited, remote_address
from ..core.accounts import authenticate, normalize_email, user_for_session
from ..core.db import reads_only_from_now
from ..ops import logs
from .forms import LoginForm

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
csrf = CSRFProtect()
TOO_MANY_ATTEMPTS = "登录尝试次数过多，请稍后再试。Too many login attempts; try again later."


class HttpsAwareSessions(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (or when configured)."""

    def get_cookie_secure(self, app):
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def require_login(blueprint, *, admin=False):
    """Guard every view of a blueprint: anonymous users go to the login page; with `admin`,
    logged-in users who are not administrators get 403."""

    def guard():
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if admin and not current_user.is_admin:
            abort(403, "只有管理员可以打开这个页面。")
        return None

    blueprint.before_request(guard)


@login_manager.user_loader
def _load_user(session_id):
    user = user_for_session(session_id)
    return logs.remember_user(user) if user is not None else None


def _failed(response):
    """Only failed attempts count against the limits (a success redirects)."""
    return response.status_code != 302


def _account_key():
    return "account:" + normalize_email(request.form.get("email"))


def _next_page():
    """Where to go after logging in: a path on this site only, never another host."""
    target = request.args.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("manage.index")


@bp.route("/login", methods=("GET", "POST"))
@limited(
    ("LOGIN_LIMIT_PER_IP", remote_address),
    ("LOGIN_LIMIT_PER_ACCOUNT", _account_key),
    message=TOO_MANY_ATTEMPTS,
    counts=_failed,
)
def login():
    """Log in with email and password."""
    reads_only_from_now()  # logging in writes nothing: the slow password check holds no lock
    if current_user.is_authenticated:
        return redirect(url_for("manage.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            session.clear()  # a fresh session: nothing carried over from before logging in
            login_user(logs.remember_user(user))
            session.permanent = True
            return redirect(_next_page())
        form.password.errors.append("邮箱或密码不正确。")
    return render_template("manage/login.html", form=form)


@bp.post("/logout")
def logout():
    """Log out (a POST, so CSRFProtect checks it)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def _csrf_error(error):
    error.description = f"页面已过期或来源不明，请返回、刷新页面后再试。(CSRF: {error.description})"
    return render_template("error.html", error=error), 400


def init_app(app):
    """Session cookie settings, Flask-Login, CSRF on every form, the login pages."""
    # Flask already sets these keys, so override its defaults (not the values a test passed).
    if app.config["SESSION_COOKIE_SAMESITE"] is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Tokens live as long as the session: a manager may leave a page open for hours.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.session_interface = HttpsAwareSessions()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    csrf.init_app(app)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_blueprint(bp)
