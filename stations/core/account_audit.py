"""The accounts' audit trail: every change to an account, who made it, when, from where.

Values are JSON text, as in the stations' trail; a password change is recorded, never the
password or its hash.
"""

import getpass

from .audit import newest_first, request_origin, to_json
from .db import db, utcnow
from .models import ACCOUNT_SOURCES, AccountAuditEntry


def _command_line_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry, as in some containers
        return "unknown"


def record(account, field, before=None, after=None, *, actor, source):
    """Add an audit row for `account` (flushed, so it has an id) to the session."""
    if source not in ACCOUNT_SOURCES:
        raise ValueError(f"source must be one of {', '.join(ACCOUNT_SOURCES)}")
    ip, user_agent = request_origin()
    if source == "cli":
        user_agent = f"command line (system user {_command_line_user()})"[:200]
    entry = AccountAuditEntry(
        account_id=account.id,
        actor_id=actor.id if actor is not None else None,
        source=source,
        field=field,
        before=None if before is None else to_json(before),
        after=None if after is None else to_json(after),
        at=utcnow(),
        ip=ip,
        user_agent=user_agent,
    )
    db.session.add(entry)


def history(account_id, *, limit=100):
    """The account's latest audit entries, newest first."""
    entries = AccountAuditEntry
    return newest_first(entries, entries.account_id == account_id, entries.actor, limit)
