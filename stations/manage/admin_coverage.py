"""The admin's coverage page at /admin/coverage: where riders searched and found no open station
near, over a chosen period, as a map of grid cells, the top cells, and CSV or GeoJSON exports."""

import json
from datetime import date, timedelta
from math import ceil

import folium
from flask import Blueprint, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import escape
from wtforms import Form, SelectField, StringField

from ..core import datum
from ..core.coverage import KEEP_DAYS, cell_outline
from ..core.coverage_report import (
    KIND_CHOICES,
    MIN_SEARCHES,
    Period,
    as_csv,
    as_geojson,
    cell_demand,
    stations_near,
)
from ..core.hours import local_date, local_now
from ..rider.folium_map import build_map, tiles_for
from .auth import require_login

bp = Blueprint("admin_coverage", __name__, url_prefix="/admin/coverage")
require_login(bp, admin=True)

DEFAULT_DAYS = 30
TOP_CELLS = 20
# Fill colours: no unmet search, then four steps up to the most unmet cell shown.
COLOURS = ("#a1d99b", "#fdd49e", "#fc8d59", "#e34a33", "#b30000")


def _day(field):
    """The field's date (YYYY-MM-DD), or None with an error on the field."""
    text = (field.data or "").strip()
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        field.errors = [*field.errors, _("请填写日期，格式为 2026-01-31")]
        return None


class PeriodForm(Form):
    """The period of the report, from the query string (a GET form: no CSRF token)."""

    start = StringField()
    end = StringField()
    kind = SelectField(choices=KIND_CHOICES, default="all", validate_choice=False)

    def period(self, gap_m):
        """The Period asked for, or None (with messages on the fields) when it is not usable."""
        today = local_date(local_now())
        if not self.end.data:
            self.end.data = today.isoformat()
        if not self.start.data:
            self.start.data = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        first, last = _day(self.start), _day(self.end)
        if self.kind.data not in KIND_CHOICES:
            self.kind.errors = [_("请选择列表中的一项")]
        if first and last and first > last:
            self.end.errors = [_("结束日期不能早于开始日期")]
        elif first and last and (last - first).days >= KEEP_DAYS:
            self.end.errors = [_("最长 %(days)s 天", days=KEEP_DAYS)]
        if self.errors:
            return None
        return Period(first=first, last=last, kind=self.kind.data, gap_m=gap_m)


def _form_and_period():
    form = PeriodForm(request.args)
    return form, form.period(current_app.config["COVERAGE_GAP_M"])


def _colour(unmet, most):
    return COLOURS[0] if unmet == 0 else COLOURS[ceil(4 * unmet / most)]


def _cells_layer(rows, map_datum):
    """The cells as polygons drawn in the basemap's datum, coloured by their unmet searches."""
    layer = folium.FeatureGroup(name="coverage")
    most = max((row.unmet for row in rows), default=0)
    for row in rows:
        corners = [
            datum.from_wgs84(map_datum, lat=p.lat, lng=p.lng) for p in cell_outline(row.cell)
        ]
        text = _(
            "%(district)s：%(searches)s 次查找，%(unmet)s 次附近无开放站点",
            district=row.district or "—",
            searches=row.searches,
            unmet=row.unmet,
        )
        colour = _colour(row.unmet, most)
        folium.Polygon(
            corners,
            tooltip=str(escape(text)),
            color=colour,
            weight=1,
            fill_color=colour,
            fill_opacity=0.6,
        ).add_to(layer)
    return layer


@bp.get("")
def index():
    """The coverage map, the cells most in need, and the export links."""
    form, period = _form_and_period()
    rows, top = [], []
    if period is not None:
        rows = cell_demand(period)
        top = [(row, stations_near(row.centre)) for row in rows[:TOP_CELLS]]
    tiles = tiles_for(current_app.config)
    fmap = build_map(tiles, cluster=False, layers=[_cells_layer(rows, tiles.datum)])
    page = render_template(
        "manage/admin/coverage.html",
        form=form,
        period=period,
        rows=rows,
        top=top,
        fmap=fmap,
        colours=COLOURS,
        min_searches=MIN_SEARCHES,
        gap_m=current_app.config["COVERAGE_GAP_M"],
        kinds=KIND_CHOICES,
        english=str(get_locale()) == "en",
    )
    return page, 200 if period is not None else 400


@bp.get("/export.<any(csv, geojson):fmt>")
def export(fmt):
    """The cells of the period (none under MIN_SEARCHES searches) as CSV or GeoJSON."""
    form, period = _form_and_period()
    if period is None:
        problems = "; ".join(f"{name}: {', '.join(errors)}" for name, errors in form.errors.items())
        return problems, 400, {"Content-Type": "text/plain; charset=utf-8"}
    rows = cell_demand(period)
    name = f"coverage-{period.first}-{period.last}-{period.kind}.{fmt}"
    if fmt == "csv":
        body, mimetype = as_csv(rows), "text/csv; charset=utf-8"
    else:
        body = json.dumps(as_geojson(rows, period), ensure_ascii=False)
        mimetype = "application/geo+json"
    headers = {"Content-Type": mimetype, "Content-Disposition": f'attachment; filename="{name}"'}
    return body, 200, headers | {"Cache-Control": "no-store"}
