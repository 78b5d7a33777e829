"""Accounts: password hashes, creating and changing users (audited), their sessions, and the one
check of who may edit which station."""

import hmac
import re
from functools import cache

import sqlalchemy as sa
from flask import abort, current_app
from werkzeug.security import check_password_hash, generate_password_hash

from . import account_audit
from .db import db
from .models import ROLES, Station, User, new_session_token, station_manager

MIN_PASSWORD_LENGTH = 10
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AccountError(ValueError):
    """A user cannot be created or changed this way; the message says why."""


def normalize_email(email):
    """An email address as stored and looked up: trimmed, lower case."""
    return (email or "").strip().lower()


def hash_password(password):
    """A salted hash (werkzeug scrypt unless PASSWORD_HASH_METHOD says otherwise)."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return generate_password_hash(password, method=method)


@cache
def _dummy_hash():
    return generate_password_hash("not a password")


def authenticate(email, password):
    """The active user with this email and password, or None.

    An unknown email costs the same hash check, so timing does not tell which accounts exist.
    """
    user = db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def check_new_password(password):
    """Raise AccountError unless the password is long enough."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def stations_by_external_id(external_ids):
    """The stations with these external ids, in that order; AccountError names any unknown."""
    wanted = list(dict.fromkeys(i.strip() for i in external_ids if i.strip()))
    if not wanted:
        return []
    found = {
        s.external_id: s
        for s in db.session.scalars(sa.select(Station).where(Station.external_id.in_(wanted)))
    }
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise AccountError("no station has external_id " + ", ".join(unknown))
    return [found[i] for i in wanted]


def _email_or_error(email, *, account=None):
    """The normalized address; AccountError if it is none or another account's."""
    email = normalize_email(email)
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise AccountError(f"'{email}' is not an email address")
    query = sa.select(User.id).where(User.email == email)
    if account is not None:
        query = query.where(User.id != account.id)
    if db.session.scalar(query) is not None:
        raise AccountError(f"a user with email {email} already exists")
    return email


def _external_ids(stations):
    return sorted(s.external_id for s in stations)


def create_user(email, *, role, password, stations=(), actor, source):
    """A new user, added to the session and audited (the caller commits); AccountError says
    what is wrong. `actor` made it (None from the command line), through `source`."""
    email = _email_or_error(email)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    check_new_password(password)
    user = User(email=email, role=role, password_hash=hash_password(password), active=True)
    user.stations = list(stations)
    db.session.add(user)
    db.session.flush()
    created = {"email": email, "role": role, "active": True, "stations": _external_ids(stations)}
    account_audit.record(user, "created", after=created, actor=actor, source=source)
    return user


def update_user(user, *, email, role, active, stations, password=None, actor, source):
    """Apply an account form and audit each change (the caller commits); AccountError for what
    cannot be, such as taking away one's own admin rights or login.

    A new password or a deactivation ends the account's sessions.
    """
    if actor is not None and user.id == actor.id and (role != "admin" or not active):
        raise AccountError("you cannot take away your own admin rights or login")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if password:
        check_new_password(password)
    new = {"email": _email_or_error(email, account=user), "role": role, "active": active}
    for field, value in new.items():
        if getattr(user, field) != value:
            account_audit.record(
                user, field, getattr(user, field), value, actor=actor, source=source
            )
            setattr(user, field, value)
    if _external_ids(stations) != _external_ids(user.stations):
        before, after = _external_ids(user.stations), _external_ids(stations)
        account_audit.record(user, "stations", before, after, actor=actor, source=source)
    user.stations = list(stations)
    if password:
        user.password_hash = hash_password(password)
        account_audit.record(user, "password", actor=actor, source=source)
    if password or not active:
        user.session_token = new_session_token()


def end_sessions(user, *, actor, source):
    """Log the account out everywhere, now (the caller commits), and audit it."""
    user.session_token = new_session_token()
    account_audit.record(user, "sessions", actor=actor, source=source)


def user_for_session(session_id):
    """The active user a session's id (User.get_id) belongs to, or None if it is not current:
    the account's password changed, it was deactivated, or its sessions were ended."""
    account_id, _, token = (session_id or "").partition(":")
    if not (account_id.isascii() and account_id.isdigit()) or not token:
        return None
    user = db.session.get(User, int(account_id))
    if user is None or not user.active or not user.session_token:
        return None
    return user if hmac.compare_digest(user.session_token, token) else None


def station_for_user(user, station_id):
    """The station if `user` may edit it, else 404: admins every station, managers their own.

    Every manager route loads its station through here; 404, not 403, so ids are not revealed.
    """
    query = sa.select(Station).where(Station.id == station_id)
    if not user.is_admin:
        query = query.join(station_manager).where(station_manager.c.user_id == user.id)
    station = db.session.scalar(query)
    if station is None:
        abort(404, "没有这个站点，或者您无权管理它。")
    return station


def managers_of(station_id):
    """The users assigned to a station."""
    query = (
        sa.select(User)
        .join(station_manager)
        .where(station_manager.c.station_id == station_id)
        .order_by(User.email)
    )
    return db.session.scalars(query).all()
