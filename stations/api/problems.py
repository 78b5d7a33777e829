"""One error envelope for the API (RFC 9457 problem+json); pages get one HTML error page."""

import sqlalchemy as sa
from flask import current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from ..core.db import db, lock_timed_out, reads_only_from_now, unreachable
from ..ops.metrics import count_database_error
from ..ops.request_id import request_id

PROBLEM_TYPE = "about:blank"
# After a write that could not get the database's lock in time: ask to come back this soon.
BUSY_RETRY_AFTER_S = 2


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


def _server_error(error):
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    return _http_error(InternalServerError())


def _database_error(error):
    """503 with Retry-After when the database's lock could not be had in time, or the database
    cannot be reached (down, restarting); else a 500. Either way it is counted in the metrics."""
    count_database_error(error)
    busy = lock_timed_out(error)
    if not busy and not unreachable(error):
        return _server_error(error)
    what = "busy" if busy else "unreachable"
    current_app.logger.warning(
        "Database %s on %s %s: %s", what, request.method, request.path, error.orig
    )
    db.session.rollback()
    reads_only_from_now()  # the error page may read (who is logged in), but waits for no lock
    if _wants_api() and busy:
        why = "The database is busy with other changes: nothing was saved. Try again shortly."
    elif _wants_api():
        why = "The database cannot be reached right now: nothing was saved. Try again shortly."
    elif busy:
        why = "系统正忙，这次没有保存任何改动，请稍后再试。"
    else:
        why = "暂时连不上数据库，这次没有保存任何改动，请稍后再试。"
    response = make_response(_http_error(ServiceUnavailable(why)))
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return response


def init_app(app):
    """Register the error handlers."""
    app.register_error_handler(InvalidParameters, _invalid_parameters)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.DBAPIError, _database_error)
    app.register_error_handler(Exception, _server_error)
