"""One error envelope for the API (RFC 9457 problem+json); pages get one HTML error page."""

import sqlalchemy as sa
from flask import current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from ..core import faults
from ..core.db import db, reads_only_from_now
from ..i18n import _l
from ..ops.metrics import count_database_error
from ..ops.request_id import request_id

PROBLEM_TYPE = "about:blank"
# When the database cannot answer, come back this soon: a lock is soon had; a restarting server
# is back in seconds; a full or read-only disk waits for someone to act.
BUSY_RETRY_AFTER_S = 2
RETRY_AFTER_S = {faults.BUSY: BUSY_RETRY_AFTER_S, faults.DOWN: 5, faults.UNWRITABLE: 60}


class InvalidParameters(Exception):
    """Bad API input: `errors` maps each bad parameter to why it is bad."""

    def __init__(self, errors, detail=None):
        super().__init__(detail)
        self.errors = errors
        self.detail = detail or "; ".join(f"{name}: {why}" for name, why in errors.items())


def problem(status, title, detail, errors=None, **extra):
    """A problem+json response, with the request's id; `extra` members are added as they are."""
    body = {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail}
    body["request_id"] = request_id()
    if errors:
        body["errors"] = [{"name": name, "reason": why} for name, why in errors.items()]
    body |= extra
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _wants_api():
    return request.path == "/api" or request.path.startswith("/api/")


def _invalid_parameters(error):
    return problem(400, "Bad Request", error.detail, error.errors)


def _http_error(error):
    if not _wants_api():
        return render_template("error.html", error=error), error.code
    response = problem(error.code, error.name, error.description)
    if error.code == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _roll_back():
    """Roll the session back; on a connection already lost there is nothing to roll back."""
    try:
        db.session.rollback()
    except sa.exc.DBAPIError:
        pass  # SQLAlchemy has thrown the connection away


def _server_error(error):
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    _roll_back()
    return _http_error(InternalServerError())


# Why the database could not answer, for the API and for pages: (read, write) each.
_API_TEXT = {
    faults.BUSY: "The database is busy with other changes.",
    faults.DOWN: "The database is not answering.",
    faults.UNWRITABLE: "The database cannot store anything now: its disk is full or read-only.",
}
_PAGE_TEXT = {
    faults.BUSY: (_l("系统正忙，请稍后再试。"), _l("系统正忙，这次没有保存任何改动，请稍后再试。")),
    faults.DOWN: (
        _l("数据库暂时无法连接，请稍后再试。"),
        _l("数据库暂时无法连接，这次没有保存任何改动，请稍后再试。"),
    ),
    faults.UNWRITABLE: (
        _l("数据库暂时无法写入（磁盘已满或只读），请联系管理员。"),
        _l(
            "数据库暂时无法写入（磁盘已满或只读），这次没有保存任何改动。查看站点不受影响；请联系管理员。"
        ),
    ),
}


def _fault_text(fault):
    """Why the database could not answer this request, said to its caller."""
    writes = request.method not in ("GET", "HEAD", "OPTIONS")
    if not _wants_api():
        return str(_PAGE_TEXT[fault][writes])
    saved = " Nothing was saved." if writes else ""
    return f"{_API_TEXT[fault]}{saved} Try again later."


def database_unavailable(error, *, page=None):
    """The answer to a database error: 503 with Retry-After when the database is busy, down or
    cannot write, else a 500; counted in the metrics either way. Outside /api, `page(why)`
    gives the HTML to show with the 503 (a form with the reason), if not the error page."""
    count_database_error(error)
    fault = faults.fault(error)
    if fault is None:
        return _server_error(error)
    current_app.logger.warning(
        "Database %s on %s %s: %s", fault, request.method, request.path, error.orig
    )
    _roll_back()
    reads_only_from_now()  # the page may read (who is logged in), but waits for no lock
    why = _fault_text(fault)
    # A database that does not answer cannot show the form again: the error page, then.
    if page is not None and fault != faults.DOWN and not _wants_api():
        response = make_response(page(why), 503)
    else:
        response = make_response(_http_error(ServiceUnavailable(why)))
    response.headers["Retry-After"] = str(RETRY_AFTER_S[fault])
    return response


def init_app(app):
    """Register the error handlers."""
    app.register_error_handler(InvalidParameters, _invalid_parameters)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.DBAPIError, database_unavailable)
    app.register_error_handler(Exception, _server_error)
