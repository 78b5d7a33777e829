"""The people-facing pages."""

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    """The rider's page."""
    return render_template("pages/index.html")
