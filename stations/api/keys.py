"""Partner API keys: create, revoke, look up, count use; and the commands that do it.

A key is "rsk_" plus 43 random URL-safe characters, shown once. Only its SHA-256 is stored, with
the first characters as a prefix to tell keys apart. So that a busy key costs no database work
on each request: a process remembers a known key for API_KEY_CACHE_S seconds (a revocation
reaches the other processes within that time; its own at once), and counts use in memory,
writing it at most once per API_KEY_USAGE_FLUSH_S seconds per key (admins' counts lag by that).
"""

import atexit
import hashlib
import secrets
import threading
import time

import click
import sqlalchemy as sa
from flask import current_app

from ..core.db import db, utcnow
from ..core.models import ApiKey

TOKEN_PREFIX = "rsk_"
VISIBLE_CHARS = len(TOKEN_PREFIX) + 8
DEFAULT_PER_MINUTE = 600
MAX_PER_MINUTE = 1_000_000


def hash_token(token):
    """The stored form of a key."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(name, *, per_minute=DEFAULT_PER_MINUTE):
    """A new key for `name`: (the ApiKey row, the token to hand over once)."""
    if not name or not name.strip() or len(name.strip()) > 100:
        raise ValueError("the name must be 1 to 100 characters")
    if not 1 <= per_minute <= MAX_PER_MINUTE:
        raise ValueError(f"the limit must be 1 to {MAX_PER_MINUTE} requests a minute")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name.strip(),
        prefix=token[:VISIBLE_CHARS],
        key_hash=hash_token(token),
        per_minute=per_minute,
        request_count=0,
    )
    db.session.add(key)
    db.session.commit()
    return key, token


def revoke_key(id_or_prefix):
    """Revoke the key with this id or prefix (idempotent); the ApiKey row, or None if unknown."""
    text = str(id_or_prefix).strip()
    by_id = text.isascii() and text.isdigit() and len(text) <= 9
    where = ApiKey.id == int(text) if by_id else ApiKey.prefix == text
    keys = db.session.scalars(sa.select(ApiKey).where(where)).all()
    if len(keys) != 1:
        return None
    key = keys[0]
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
    current_app.extensions["stations.key_cache"].clear()
    return key


def key_for_token(token):
    """(id, per_minute, prefix, revoked_at) of a token's key, or None; remembered a while."""
    cache, digest, now = (
        current_app.extensions["stations.key_cache"],
        hash_token(token),
        time.monotonic(),
    )
    remembered = cache.get(digest)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    found = db.session.execute(
        sa.select(ApiKey.id, ApiKey.per_minute, ApiKey.prefix, ApiKey.revoked_at).where(
            ApiKey.key_hash == digest
        )
    ).first()
    if found is not None:  # unknown tokens are not remembered: a key made a moment later works
        if len(cache) >= 10_000:
            cache.clear()
        cache[digest] = (now + current_app.config["API_KEY_CACHE_S"], found)
    return found


def key_usage():
    """Every key (newest first) with its use, including use this process has not written yet."""
    flush_usage(force=True)
    keys = db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id.desc())).all()
    return [
        {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "per_minute": key.per_minute,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
            "last_used_at": key.last_used_at,
            "request_count": key.request_count,
        }
        for key in keys
    ]


class _Usage:
    """Requests per key not yet written to the database, for one app in one process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = {}  # key id -> (count, last used)
        self.flushed_at = {}  # key id -> time.monotonic() of the last write


def _usage():
    return current_app.extensions["stations.key_usage"]


def record_use(key_id):
    """Count one request made with a key; write the counts when they are due."""
    usage = _usage()
    with usage.lock:
        count, _ = usage.pending.get(key_id, (0, None))
        usage.pending[key_id] = (count + 1, utcnow())
        due = (
            time.monotonic() - usage.flushed_at.get(key_id, float("-inf"))
            >= current_app.config["API_KEY_USAGE_FLUSH_S"]
        )
    if due:
        flush_usage(key_ids=(key_id,))


def flush_usage(*, key_ids=None, force=False):
    """Write pending counts (of key_ids, or all) to the database; kept for the next time if
    the database cannot take them now (a use count is not worth a failed request)."""
    usage = _usage()
    with usage.lock:
        ids = list(usage.pending) if key_ids is None or force else key_ids
        taken = {key_id: usage.pending.pop(key_id) for key_id in ids if key_id in usage.pending}
        usage.flushed_at.update(dict.fromkeys(taken, time.monotonic()))
    if not taken:
        return
    try:
        for key_id, (count, used_at) in taken.items():
            db.session.execute(
                sa.update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(request_count=ApiKey.request_count + count, last_used_at=used_at)
            )
        db.session.commit()
    except sa.exc.OperationalError as error:  # SQLite busy with another writer, say
        db.session.rollback()
        current_app.logger.warning("API key use kept for the next write: %s", error.orig)
        with usage.lock:
            for key_id, (count, used_at) in taken.items():
                later_count, later_used_at = usage.pending.get(key_id, (0, used_at))
                usage.pending[key_id] = (count + later_count, max(used_at, later_used_at))


@click.command("create-api-key")
@click.argument("name")
@click.option("--per-minute", type=click.IntRange(1, MAX_PER_MINUTE), default=DEFAULT_PER_MINUTE)
def create_api_key_command(name, per_minute):
    """Create an API key for NAME and print it (once: it is not stored)."""
    try:
        key, token = create_key(name, per_minute=per_minute)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from None
    click.echo(f"API key for {key.name} (id {key.id}, {per_minute} requests a minute):")
    click.echo(token)
    click.echo("Keep it now: it is stored only as a hash and cannot be shown again.", err=True)


@click.command("revoke-api-key")
@click.argument("key")
def revoke_api_key_command(key):
    """Revoke the API key with this id or prefix (as list-api-keys shows)."""
    revoked = revoke_key(key)
    if revoked is None:
        raise click.ClickException(f"No single API key has the id or prefix '{key}'.")
    when = f"{revoked.revoked_at:%Y-%m-%d %H:%M}Z"
    click.echo(f"Revoked key {revoked.prefix}… ({revoked.name}) at {when}.")


@click.command("list-api-keys")
def list_api_keys_command():
    """List API keys with their limits, last use and request counts."""
    rows = key_usage()
    if not rows:
        click.echo("No API keys yet: flask --app app create-api-key NAME")
    for row in rows:
        state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
        used = f"{row['last_used_at']:%Y-%m-%d %H:%M}Z" if row["last_used_at"] else "never"
        click.echo(
            f"{row['id']:>4}  {row['prefix']}…  {row['name']}  {row['per_minute']}/min  {state}  "
            f"last used {used}  {row['request_count']} requests"
        )


def _flush_at_exit(app):
    """Write what is pending when the process ends (best effort: the database may be gone)."""
    if app.extensions["stations.key_usage"].pending:
        with app.app_context():
            try:
                flush_usage(force=True)
            except sa.exc.SQLAlchemyError:
                app.logger.warning("API key use counts of this process could not be written")


def init_app(app):
    """Keep a usage counter for the app and register the key commands."""
    app.extensions["stations.key_usage"] = _Usage()
    app.extensions["stations.key_cache"] = {}  # SHA-256 -> (expiry on the monotonic clock, key)
    atexit.register(_flush_at_exit, app)
    for command in (create_api_key_command, revoke_api_key_command, list_api_keys_command):
        app.cli.add_command(command)
