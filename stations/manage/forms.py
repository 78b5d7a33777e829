"""The forms of the manager and admin pages (Flask-WTF: each carries its CSRF token).

Each form checks its input once, here, with a message a station manager understands.
"""

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import HiddenInput

from ..core.datum import DATUMS
from ..core.hours import local_now, parse_hours
from ..core.models import AMENITIES, KINDS, ROLES, STATUSES
from ..core.weekly import read_week, weekly_expression

TRI_STATE = {"yes": True, "no": False, "unknown": None}
REQUIRED = "必填"


class LoginForm(FlaskForm):
    email = StringField("邮箱", validators=[InputRequired(REQUIRED), Length(max=254)])
    password = PasswordField("密码", validators=[InputRequired(REQUIRED), Length(max=200)])


class VersionForm(FlaskForm):
    """A form that edits a station: it carries the version the editor saw."""

    version = IntegerField(widget=HiddenInput(), validators=[InputRequired()])


class AmenityForm(VersionForm):
    amenity = SelectField(choices=AMENITIES, validators=[InputRequired()])
    value = SelectField(choices=tuple(TRI_STATE), validators=[InputRequired()])

    def changes(self):
        return {self.amenity.data: TRI_STATE[self.value.data]}


class HoursForm(VersionForm):
    """Hours from the weekly editor (mode=weekly) or the raw OSM field (mode=raw)."""

    mode = SelectField(choices=("weekly", "raw"), default="weekly")
    day_errors = {}
    opening_hours = StringField("OSM opening_hours", validators=[Length(max=500)])

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        if self.mode.data == "weekly":
            week, problems = read_week(request.form)
            self.day_errors = problems
            if problems:
                return False
            self.expression = weekly_expression(week)
        else:
            self.expression = (self.opening_hours.data or "").strip() or None
        if self.expression is not None:
            try:
                parse_hours(self.expression)
            except ValueError as error:
                self.opening_hours.errors.append(f"{self.expression}: {error}")
                return False
        return True

    def changes(self):
        return {"opening_hours": self.expression}


class StatusForm(VersionForm):
    status = RadioField(choices=STATUSES, validators=[InputRequired(REQUIRED)])
    closed_reason = StringField("原因", validators=[Length(max=200)])
    closed_until = DateField("暂停到（含当天）", validators=[Optional()])

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        if self.status.data != "temporarily_closed":
            return True
        if not (self.closed_reason.data or "").strip():
            self.closed_reason.errors.append("请写明暂停原因")
        if self.closed_until.data and self.closed_until.data < local_now().date():
            self.closed_until.errors.append("日期已经过去")
        return not (self.closed_reason.errors or self.closed_until.errors)

    def changes(self):
        if self.status.data != "temporarily_closed":
            return {"status": self.status.data, "closed_reason": None, "closed_until": None}
        reason = self.closed_reason.data.strip()
        until = self.closed_until.data
        return {"status": "temporarily_closed", "closed_reason": reason, "closed_until": until}


def _phone_field():
    return StringField(
        "电话",
        validators=[
            Length(max=50),
            Regexp(r"^[0-9+\-() ]*$", message="只能包含数字、空格和 + - ( )"),
        ],
    )


class PhoneForm(VersionForm):
    phone = _phone_field()

    def changes(self):
        return {"phone": (self.phone.data or "").strip() or None}


class ResolveForm(VersionForm):
    action = StringField(validators=[InputRequired()])


class StationForm(FlaskForm):
    """An admin's station: position typed or tapped, in the chosen datum."""

    version = IntegerField(widget=HiddenInput(), validators=[Optional()])
    external_id = StringField("编号 external_id", validators=[Length(max=100)])
    kind = SelectField("类型", choices=KINDS)
    name = StringField("名称", validators=[InputRequired(REQUIRED), Length(max=200)])
    address = StringField("地址", validators=[Length(max=300)])
    datum = SelectField("坐标系", choices=DATUMS, default="gcj02")
    lat = FloatField("纬度", validators=[InputRequired(REQUIRED), NumberRange(-90, 90)])
    lng = FloatField("经度", validators=[InputRequired(REQUIRED), NumberRange(-180, 180)])
    phone = _phone_field()
    confirm_nearby = BooleanField("附近已有站点，仍然保存")


class UserForm(FlaskForm):
    email = StringField("邮箱", validators=[InputRequired(REQUIRED), Length(max=254)])
    role = SelectField("角色", choices=ROLES, default="manager")
    active = BooleanField("可以登录", default=True)
    stations = TextAreaField("管理的站点（external_id，空格或逗号分隔）")
    password = PasswordField("新密码（至少 10 位；不改请留空）", validators=[Length(max=200)])

    def station_ids(self):
        return (self.stations.data or "").replace(",", " ").split()


class ImportForm(FlaskForm):
    file = FileField(
        "文件（CSV、XLSX、GeoJSON）",
        validators=[
            FileRequired("请选择文件"),
            FileAllowed(["csv", "xlsx", "geojson", "json"], "只支持 CSV、XLSX、GeoJSON"),
        ],
    )
    crs = SelectField("坐标系", choices=DATUMS, default="wgs84")


class CommitImportForm(FlaskForm):
    upload_id = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    digest = StringField(widget=HiddenInput(), validators=[InputRequired()])
