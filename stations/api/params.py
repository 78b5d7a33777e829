"""Query-string validation for the API: every bad parameter is named, with the reason."""

import re
from math import isfinite

from ..core.datum import DATUMS
from ..core.geo import BBox
from .problems import InvalidParameters

MAX_VALUE_LENGTH = 1000
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Plain decimals within range (the OpenAPI document publishes the same pattern).
_LNG = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"
_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"
BBOX_PATTERN = f"^{_LNG},{_LAT},{_LNG},{_LAT}$"


class QueryArgs:
    """Reads typed values from request.args, collecting errors; `check()` raises them all."""

    def __init__(self, args, allowed):
        self.args = args
        self.errors = {}
        for name in args:
            values = args.getlist(name)
            if name not in allowed:
                self.errors[name] = "is not a known parameter"
            elif len(values) > 1:
                self.errors[name] = "must be given once"
            elif len(values[0]) > MAX_VALUE_LENGTH:
                self.errors[name] = f"must be at most {MAX_VALUE_LENGTH} characters"

    def _raw(self, name, required):
        """The stripped text of a parameter, or None when absent (or already bad)."""
        if name in self.errors:
            return None
        value = self.args.get(name)
        if value is None or value.strip() == "":
            if required:
                self.errors[name] = "is required" if value is None else "must not be empty"
            elif value is not None:
                self.errors[name] = "must not be empty"
            return None
        return value.strip()

    def text(self, name, *, max_length):
        """Stripped text of at most max_length characters."""
        raw = self._raw(name, False)
        if raw is not None and len(raw) > max_length:
            self.errors[name] = f"must be at most {max_length} characters"
            return None
        return raw

    def number(self, name, *, low, high, required=False, default=None):
        """A finite number in [low, high]."""
        raw = self._raw(name, required)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = None
        if value is None or not isfinite(value) or not low <= value <= high:
            self.errors[name] = f"must be a number between {low:g} and {high:g}"
            return default
        return value

    def integer(self, name, *, low, high, default):
        """A whole number in [low, high]."""
        raw = self._raw(name, False)
        if raw is None:
            return default
        if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
            self.errors[name] = f"must be a whole number between {low} and {high}"
            return default
        return int(raw)

    def choice(self, name, choices, *, default):
        """One of `choices`."""
        raw = self._raw(name, False)
        if raw is None:
            return default
        if raw not in choices:
            self.errors[name] = "must be one of " + ", ".join(choices)
            return default
        return raw

    def coord(self):
        """The datum of the positions sent and returned (`coord`), wgs84 by default."""
        return self.choice("coord", DATUMS, default="wgs84")

    def choice_list(self, name, choices):
        """A comma-separated list, each item one of `choices`, as a tuple."""
        raw = self._raw(name, False)
        if raw is None:
            return ()
        items = [item.strip() for item in raw.split(",")]
        if any(item not in choices for item in items):
            self.errors[name] = "must be a comma-separated list of " + ", ".join(choices)
            return ()
        return tuple(dict.fromkeys(items))

    def boolean(self, name, *, default=False):
        """true or false."""
        return self.choice(name, ("true", "false"), default=str(default).lower()) == "true"

    def bbox(self, name):
        """min_lng,min_lat,max_lng,max_lat as a geo.BBox, or None."""
        raw = self._raw(name, False)
        if raw is None:
            return None
        box = tuple(float(part) for part in raw.split(",")) if re.match(BBOX_PATTERN, raw) else ()
        if not box or not (box[0] <= box[2] and box[1] <= box[3]):
            self.errors[name] = (
                "must be min_lng,min_lat,max_lng,max_lat: four plain decimals, longitudes -180 "
                "to 180 and latitudes -90 to 90, each minimum not above its maximum"
            )
            return None
        min_lng, min_lat, max_lng, max_lat = box
        return BBox(min_lng=min_lng, min_lat=min_lat, max_lng=max_lng, max_lat=max_lat)

    def check(self):
        """Raise InvalidParameters naming every bad parameter, if any."""
        if self.errors:
            raise InvalidParameters(self.errors)
