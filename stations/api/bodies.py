"""Request-body validation for the API's writes: every bad field is named, with the reason."""

import re

from ..core.models import CHECKIN_AMENITIES
from .problems import InvalidParameters

# A device id as the rider page makes it (random, kept in the browser); the OpenAPI document
# publishes the same pattern.
DEVICE_PATTERN = "^[A-Za-z0-9_-]{16,64}$"
CHECKIN_FIELDS = ("device", "open", "amenities")


def checkin_body(body):
    """{fact: bool} from a check-in body, and the device id; InvalidParameters if it is bad."""
    if not isinstance(body, dict):
        raise InvalidParameters({"body": "must be a JSON object with device, open, amenities"})
    errors = {name: "is not a known field" for name in body if name not in CHECKIN_FIELDS}
    device, facts = body.get("device"), {}
    if not isinstance(device, str) or not re.match(DEVICE_PATTERN, device):
        errors["device"] = "must be the device's random id: 16 to 64 letters, digits, - or _"
    if "open" in body:
        facts["open"] = body["open"]
    amenities = body.get("amenities", {})
    if isinstance(amenities, dict):
        for name, value in amenities.items():
            if name not in CHECKIN_AMENITIES:
                errors[f"amenities.{name}"] = "must be one of " + ", ".join(CHECKIN_AMENITIES)
            facts[name] = value
    else:
        errors["amenities"] = "must be an object of amenity names and true or false"
    errors |= {
        ("open" if fact == "open" else f"amenities.{fact}"): "must be true or false"
        for fact, value in facts.items()
        if not isinstance(value, bool) and f"amenities.{fact}" not in errors
    }
    if not facts and "amenities" not in errors:
        errors["body"] = "must hold at least one fact: open, or an amenity in amenities"
    if errors:
        raise InvalidParameters(errors)
    return facts, device
