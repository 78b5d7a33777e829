"""The admin pages for accounts under /admin/users: create one, change its role, login,
stations or password, end its sessions, and see its history."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from ..core import account_audit
from ..core.accounts import (
    AccountError,
    create_user,
    end_sessions,
    stations_by_external_id,
    update_user,
)
from ..core.db import db
from ..core.models import User
from .auth import require_login
from .forms import UserForm

bp = Blueprint("admin_users", __name__, url_prefix="/admin/users")
require_login(bp, admin=True)


@bp.get("")
def users():
    """Every account."""
    everyone = db.session.scalars(db.select(User).order_by(User.role, User.email)).all()
    return render_template("manage/admin/users.html", users=everyone)


@bp.route("/new", methods=("GET", "POST"))
def new_user():
    """Create an account and assign its stations."""
    form = UserForm()
    if form.validate_on_submit() and _saved(
        form,
        lambda: create_user(
            form.email.data,
            role=form.role.data,
            password=form.password.data,
            stations=stations_by_external_id(form.station_ids()),
            actor=current_user,
            source="admin",
        ),
    ):
        return redirect(url_for("admin_users.users"))
    status = 422 if form.errors else 200
    return render_template("manage/admin/user.html", form=form, user=None), status


@bp.route("/<id:user_id>", methods=("GET", "POST"))
def edit_user(user_id):
    """Change an account's role, whether it may log in, its stations, or its password."""
    user = db.get_or_404(User, user_id)
    # A POST is read from the form alone: a field it lacks is empty, never the stored value.
    form = UserForm() if request.method == "POST" else UserForm(obj=user)
    if request.method == "GET":
        form.stations.data = " ".join(s.external_id for s in user.stations)
    elif form.validate_on_submit() and _saved(
        form,
        lambda: update_user(
            user,
            email=form.email.data,
            role=form.role.data,
            active=form.active.data,
            stations=stations_by_external_id(form.station_ids()),
            password=form.password.data,
            actor=current_user,
            source="admin",
        ),
    ):
        _stay_logged_in(user)
        return redirect(url_for("admin_users.users"))
    status = 422 if form.errors else 200
    history = account_audit.history(user.id)
    return render_template("manage/admin/user.html", form=form, user=user, history=history), status


@bp.post("/<id:user_id>/end-sessions")
def end_user_sessions(user_id):
    """Log an account out on every device."""
    user = db.get_or_404(User, user_id)
    end_sessions(user, actor=current_user, source="admin")
    db.session.commit()
    _stay_logged_in(user)
    flash(user.email, "sessions_ended")
    return redirect(url_for("admin_users.edit_user", user_id=user.id))


def _saved(form, change):
    """Make an account change and commit it; False, with the reason on the form, if refused."""
    try:
        change()
        db.session.commit()
    except AccountError as error:
        db.session.rollback()
        form.email.errors.append(str(error))
        return False
    return True


def _stay_logged_in(user):
    """An admin who changed their own password or ended their own sessions keeps this one."""
    if user.id == current_user.id and user.active:
        login_user(user)
