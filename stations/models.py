"""The station model: one table on both backends, positions stored in WGS-84."""

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
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
