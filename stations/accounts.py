"""Accounts: password hashes, creating users, and the one check of who may edit which station."""

import re
from functools import cache

import sqlalchemy as sa
from flask import abort, current_app
from werkzeug.security import check_password_hash, generate_password_hash

from .db import db
from .models import ROLES, Station, User, station_manager

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


def create_user(email, *, role, password, stations=()):
    """A new user, added to the session (the caller commits); AccountError says what is wrong."""
    email = normalize_email(email)
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise AccountError(f"'{email}' is not an email address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    check_new_password(password)
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with email {email} already exists")
    user = User(email=email, role=role, password_hash=hash_password(password), active=True)
    user.stations = list(stations)
    db.session.add(user)
    return user


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
