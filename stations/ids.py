"""Which ids can exist: the `<id:...>` URL converter and a lookup that never sends an impossible
id to the database.

Every table's id is an INTEGER counted from 1: PostgreSQL's holds at most 2^31 - 1, and a
larger number makes the query fail (on SQLite, past 2^63 - 1). An id outside that range names
nothing, so it is answered as any unknown id is: 404 (problem+json under /api, else the page).
"""

from werkzeug.routing import IntegerConverter

from .core.db import db

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<id:name>`: digits for a number in 1..MAX_ID; any other text does not match the route."""

    regex = r"[0-9]+"  # ASCII digits only: \d would also take other scripts' digits

    def __init__(self, map):
        super().__init__(map, min=1, max=MAX_ID)


def is_possible(ident):
    """True for an int that some row could have as its id."""
    return isinstance(ident, int) and 1 <= ident <= MAX_ID


def get(model, ident):
    """The row with this id (as from a form field), or None, also for an id that cannot exist."""
    return db.session.get(model, ident) if is_possible(ident) else None


def init_app(app):
    """Register the converter: before the blueprints, whose routes use it."""
    app.url_map.converters["id"] = IdConverter
