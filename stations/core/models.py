"""The models: stations (positions in WGS-84, every change numbered), accounts, the audit
trail, rider reports and check-ins, API keys."""

import secrets
from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import UTCDateTime, db, utcnow

KINDS = ("warm_station", "driver_home", "service_center")
STATUSES = ("open", "temporarily_closed", "closed")
AMENITIES = (
    "drinking_water",
    "food_heating",
    "phone_charging",
    "ebike_charging",
    "rest_area",
    "toilet",
    "wifi",
    "air_conditioning",
    "first_aid",
    "talk",
    "shower",
    "laundry",
    "parking",
)


class Station(db.Model):
    """A rest station. Amenities are tri-state: True, False, or None for unknown."""

    __tablename__ = "station"
    __table_args__ = (sa.Index("ix_station_lat_lng", "lat", "lng"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    district: Mapped[str | None] = mapped_column(sa.String(20))
    lat: Mapped[float] = mapped_column(sa.Double)
    lng: Mapped[float] = mapped_column(sa.Double)
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    opening_hours: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    closed_reason: Mapped[str | None] = mapped_column(sa.String(200))
    closed_until: Mapped[date | None]
    drinking_water: Mapped[bool | None]
    food_heating: Mapped[bool | None]
    phone_charging: Mapped[bool | None]
    ebike_charging: Mapped[bool | None]
    rest_area: Mapped[bool | None]
    toilet: Mapped[bool | None]
    wifi: Mapped[bool | None]
    air_conditioning: Mapped[bool | None]
    first_aid: Mapped[bool | None]
    talk: Mapped[bool | None]
    shower: Mapped[bool | None]
    laundry: Mapped[bool | None]
    parking: Mapped[bool | None]
    is_sample: Mapped[bool] = mapped_column(default=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )
    # Bumped by every UPDATE, which also checks it: a write based on a stale read fails.
    version: Mapped[int] = mapped_column(default=1)
    # Numbered by a database trigger on every insert and update (see migration 0003), never here.
    change_seq: Mapped[int | None] = mapped_column(
        sa.BigInteger,
        unique=True,
        server_default=sa.FetchedValue(),
        server_onupdate=sa.FetchedValue(),
    )

    __mapper_args__ = {"version_id_col": version}


class StationTombstone(db.Model):
    """A deleted station, written by the database trigger that numbers station changes."""

    __tablename__ = "station_tombstone"

    station_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    external_id: Mapped[str] = mapped_column(sa.String(100))
    change_seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


ROLES = ("admin", "manager")

station_manager = sa.Table(
    "station_manager",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("account.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("station_id", sa.ForeignKey("station.id", ondelete="CASCADE"), primary_key=True),
)


def new_session_token():
    """A random token: sessions hold their account's, and a new one ends every older session."""
    return secrets.token_hex(32)


class User(UserMixin, db.Model):
    """A person who logs in: an admin (every station) or a manager (assigned stations only)."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(300))
    role: Mapped[str] = mapped_column(sa.String(10))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    session_token: Mapped[str] = mapped_column(sa.String(64), default=new_session_token)
    stations: Mapped[list[Station]] = relationship(
        secondary=station_manager, order_by=Station.name, passive_deletes=True
    )

    def get_id(self):
        """What a session stores (Flask-Login): the id and the account's current session token."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self):
        return self.active

    @property
    def is_admin(self):
        return self.role == "admin"


SOURCES = ("manager", "admin", "import", "report")


class AuditFields:
    """What every audit row holds: where the change came from, the field, before and after (JSON
    text), when, and the IP address and browser it came from."""

    source: Mapped[str] = mapped_column(sa.String(10))
    field: Mapped[str] = mapped_column(sa.String(50))
    before: Mapped[str | None] = mapped_column(sa.Text)
    after: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))


class AuditEntry(AuditFields, db.Model):
    """One field of one station changed: who, when, from where, before and after (JSON text).

    Rows are only ever inserted. station_id is no foreign key, so a retired station keeps its trail.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int]
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"))
    user: Mapped[User | None] = relationship()


ACCOUNT_SOURCES = ("admin", "cli")


class AccountAuditEntry(AuditFields, db.Model):
    """One change to an account: who made it (actor; none from the command line), when, from
    where, before and after (JSON text; never a password or its hash). Rows are only inserted."""

    __tablename__ = "account_audit"
    __table_args__ = (sa.Index("ix_account_audit_account", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"))
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])


@sa.event.listens_for(AuditEntry, "before_update")
@sa.event.listens_for(AuditEntry, "before_delete")
@sa.event.listens_for(AccountAuditEntry, "before_update")
@sa.event.listens_for(AccountAuditEntry, "before_delete")
def _audit_is_append_only(mapper, connection, target):
    raise RuntimeError("audit entries are never updated or deleted")


REPORT_REASONS = (
    "closed",
    "no_water",
    "heating_broken",
    "charging_broken",
    "wrong_location",
    "other",
)


class Report(db.Model):
    """A rider's report of a problem at a station; open until a manager resolves it."""

    __tablename__ = "report"
    __table_args__ = (
        sa.Index("ix_report_station_open", "station_id", "resolved_at"),
        # For Last-Modified (changes.data_version): when reports last came or went.
        sa.Index("ix_report_created_at", "created_at"),
        sa.Index("ix_report_resolved_at", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(sa.ForeignKey("station.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(sa.String(20))
    text: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"))
    resolution: Mapped[str | None] = mapped_column(sa.String(10))


# What a rider can check in at a station: whether it is open now, and these amenities.
CHECKIN_AMENITIES = ("drinking_water", "food_heating", "phone_charging", "ebike_charging", "toilet")
CHECKIN_FACTS = ("open", *CHECKIN_AMENITIES)


class Checkin(db.Model):
    """One fact a rider checked at a station, yes or no, from one device (a SHA-256 of the random
    id the rider's browser keeps: no account, IP address or key). `expected` is what the station's
    data said at that moment (open now, or the manager's flag). Never changes the station."""

    __tablename__ = "checkin"
    __table_args__ = (
        sa.Index("ix_checkin_station_at", "station_id", "at"),
        sa.Index("ix_checkin_at", "at"),  # for Last-Modified: when riders last checked in
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(sa.ForeignKey("station.id", ondelete="CASCADE"))
    fact: Mapped[str] = mapped_column(sa.String(20))
    value: Mapped[bool]
    expected: Mapped[bool | None]
    device: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(db.Model):
    """An admin's import file between its dry-run preview and its commit (kept in the database,
    so any app server can finish it)."""

    __tablename__ = "upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(sa.String(200))
    crs: Mapped[str] = mapped_column(sa.String(10))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(db.Model):
    """A partner's API key: stored as a SHA-256 of the token, with a short prefix to tell it by."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    per_minute: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    request_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class CoverageCount(db.Model):
    """How many nearest searches, on one day (Shenzhen time), fell in one ~500 m grid cell with
    one kind filter and found the nearest open matching station in one distance band.

    All that is kept of a search (see coverage.py): no position, address, device, IP or key.
    """

    __tablename__ = "coverage_count"

    day: Mapped[date] = mapped_column(primary_key=True)
    cell: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    # The search's kind filter: its kinds, sorted and comma-separated; empty for every kind.
    kind: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    # The nearest open match was more than this many metres away (see coverage.distance_band_m).
    nearest_over_m: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    searches: Mapped[int]
