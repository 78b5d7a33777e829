"""Admin imports under /admin/import: upload a file, see a dry run of every change and every bad
row, then commit exactly what was previewed.

The file waits in the database between preview and commit, so any app server can finish it.
"""

import os
import tempfile
from contextlib import contextmanager
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.utils import secure_filename

from .. import ids
from ..core.db import db, utcnow
from ..core.importer import ImportFailed, import_stations
from ..core.models import Upload
from .auth import require_login
from .forms import CommitImportForm, ImportForm

bp = Blueprint("uploads", __name__, url_prefix="/admin/import")
require_login(bp, admin=True)
KEEP_UPLOADS = timedelta(days=1)


@contextmanager
def _as_file(upload):
    """The upload's content in a temporary file named like the original (the importer reads
    the extension)."""
    extension = os.path.splitext(upload.filename)[1].lower()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "upload" + extension)
        with open(path, "wb") as file:
            file.write(upload.content)
        yield path


def _preview(upload, *, changed_since=False):
    """The dry run of an upload: every change it would make, or every bad row."""
    with _as_file(upload) as path:
        try:
            plan, errors = import_stations(path, crs=upload.crs, dry_run=True), []
        except ImportFailed as failure:
            plan, errors = failure.plan, failure.errors
    form = CommitImportForm(formdata=None, upload_id=upload.id)
    if plan is not None:
        form.digest.data = plan.digest()
    context = {"upload": upload, "plan": plan, "errors": errors, "changed_since": changed_since}
    return render_template("manage/admin/import_preview.html", form=form, **context)


@bp.route("", methods=("GET", "POST"))
def start():
    """Choose a file; a POST shows its dry run."""
    form = ImportForm()
    if not form.validate_on_submit():
        status = 422 if form.errors else 200
        return render_template("manage/admin/import.html", form=form), status
    stale = db.select(Upload).where(Upload.created_at < utcnow() - KEEP_UPLOADS)
    for old in db.session.scalars(stale):
        db.session.delete(old)
    upload = Upload(
        user_id=current_user.id,
        filename=secure_filename(form.file.data.filename) or "upload.csv",
        crs=form.crs.data,
        content=form.file.data.read(),
    )
    db.session.add(upload)
    db.session.commit()
    return _preview(upload)


@bp.post("/commit")
def commit():
    """Import an uploaded file, if it still does exactly what its preview showed."""
    form = CommitImportForm()
    if not form.validate_on_submit():
        abort(400, "The form is incomplete: upload the file again.")
    upload = ids.get(Upload, form.upload_id.data)
    if upload is None or upload.user_id != current_user.id:
        abort(404, "This upload is gone: upload the file again.")
    with _as_file(upload) as path:
        try:
            plan = import_stations(path, crs=upload.crs, dry_run=True)
        except ImportFailed:
            plan = None
        if plan is None or plan.digest() != form.digest.data:
            return _preview(upload, changed_since=True), 409
        db.session.delete(upload)  # in the import's own transaction
        try:
            counts = import_stations(path, crs=upload.crs, user=current_user)
        except ImportFailed:
            return _preview(db.session.get(Upload, form.upload_id.data), changed_since=True), 409
    flash(" ".join(f"{what}={n}" for what, n in counts.items()), "imported")
    return redirect(url_for("admin.index"))
