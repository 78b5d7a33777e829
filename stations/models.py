"""The models: stations (positions stored in WGS-84), their change feed, and API keys."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

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
    # Numbered by a database trigger on every insert and update (see migration 0003), never here.
    change_seq: Mapped[int | None] = mapped_column(
        sa.BigInteger,
        unique=True,
        server_default=sa.FetchedValue(),
        server_onupdate=sa.FetchedValue(),
    )


class StationTombstone(db.Model):
    """A deleted station, written by the database trigger that numbers station changes."""

    __tablename__ = "station_tombstone"

    station_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    external_id: Mapped[str] = mapped_column(sa.String(100))
    change_seq: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


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
