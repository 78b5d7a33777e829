"""Helpers for the tests of stations that people edit and report on."""

from stations.db import db
from stations.districts import district_at
from stations.models import Station

FUTIAN = {"lat": 22.5431, "lng": 114.0579}  # WGS-84


def make_station(external_id, *, lat=FUTIAN["lat"], lng=FUTIAN["lng"], **fields):
    """A committed station (warm station, open, hours 08:00-20:00 unless told otherwise)."""
    values = {"kind": "warm_station", "name": f"驿站 {external_id}", "status": "open"}
    values |= {"district": district_at(lat=lat, lng=lng)}
    values |= {"opening_hours": "Mo-Su 08:00-20:00", "drinking_water": True}
    station = Station(external_id=external_id, lat=lat, lng=lng, **(values | fields))
    db.session.add(station)
    db.session.commit()
    return station
