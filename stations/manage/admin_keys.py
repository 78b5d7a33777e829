"""The admin page for partner API keys: create one (shown once), see their use, revoke one.

The same plain functions as the create-api-key, list-api-keys and revoke-api-key commands.
"""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange

from ..api import keys
from .auth import require_login

bp = Blueprint("admin_keys", __name__, url_prefix="/admin/keys")
require_login(bp, admin=True)


class ApiKeyForm(FlaskForm):
    name = StringField(
        "使用方（应用或单位名称）", validators=[InputRequired("请填写"), Length(max=100)]
    )
    per_minute = IntegerField(
        "每分钟请求上限",
        default=keys.DEFAULT_PER_MINUTE,
        validators=[
            InputRequired("请填写整数"),
            NumberRange(1, keys.MAX_PER_MINUTE, f"1 到 {keys.MAX_PER_MINUTE} 之间"),
        ],
    )


@bp.route("/", methods=("GET", "POST"))
def index():
    """Every key with its use; a form for a new one, whose key is shown on this answer only."""
    form, token = ApiKeyForm(), None
    if form.validate_on_submit():
        try:
            _, token = keys.create_key(form.name.data, per_minute=form.per_minute.data)
        except ValueError as error:
            form.name.errors.append(str(error))
        else:
            form = ApiKeyForm(formdata=None)
    status = 422 if form.errors else 200
    page = render_template("manage/admin/keys.html", form=form, token=token, rows=keys.key_usage())
    # The key must not stay in any cache: it is shown once, here.
    return page, status, {"Cache-Control": "no-store"}


@bp.post("/<id:key_id>/revoke")
def revoke(key_id):
    """Revoke a key: requests with it get 401 from now on."""
    FlaskForm().validate_on_submit() or abort(400, "表单已过期，请刷新页面再试。")
    key = keys.revoke_key(str(key_id)) or abort(404, "没有这个 key。")
    flash(f"{key.prefix}…（{key.name}）", "revoked")
    return redirect(url_for("admin_keys.index"))
