"""Backups of the configured database by its own tools, consistent while the app serves:
SQLite's online backup API, PostgreSQL's pg_dump (custom format) and pg_restore.

A backup is one file. Restore refuses to overwrite a database that holds stations, accounts,
audit rows or API keys unless forced: a restore aimed at the wrong database loses data.
"""

import os
import re
import sqlite3
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from .config import child_environment

# The tables whose rows make a database worth keeping (schema alone is not).
DATA_TABLES = ("station", "audit_entry", "account", "account_audit", "api_key")
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
SUFFIXES = {"sqlite": ".sqlite", "postgresql": ".pgdump"}
# `pg_restore -l` lines for extensions (PostGIS): restored by CREATE EXTENSION, never dropped.
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION|COMMENT - EXTENSION) ")


class BackupError(Exception):
    """A backup or restore that cannot be done, with a reason for the operator."""


def backup_name(dialect, now=None):
    """The file name of a dated backup: stations-20250101T020000Z.sqlite (or .pgdump)."""
    now = now or datetime.now(UTC)
    return f"stations-{now:%Y%m%dT%H%M%SZ}{SUFFIXES[dialect]}"


def backup(url, dest):
    """Write a consistent copy of the database at `url` (SQLAlchemy URL) to the file `dest`.

    Written to a temporary file next to it first: `dest` is whole or absent, never half.
    """
    url = sa.make_url(url)
    dest = Path(dest)
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a folder.")
    handle, partial = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(handle)
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_copy(_sqlite_path(url), partial)
        else:
            _run(["pg_dump", "--format=custom", "--file", partial], url)
        os.chmod(partial, 0o600)  # account rows hold password hashes
        os.replace(partial, dest)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return dest


def restore(url, src, *, force=False):
    """Replace the database at `url` with the backup in `src`; refuse a database holding data
    unless `force`."""
    url = sa.make_url(url)
    kind = _backup_kind(src)
    backend = url.get_backend_name()
    if kind != backend:
        raise BackupError(f"{src} is a {kind} backup; the configured database is {backend}.")
    held = rows_held(url)
    if held and not force:
        counts = ", ".join(f"{n} {table}" for table, n in held.items())
        raise BackupError(f"The database holds data ({counts}); add --force to replace it.")
    if backend == "sqlite":
        _sqlite_copy(src, _sqlite_path(url))
    else:
        _pg_restore(url, src)


def rows_held(url):
    """{table: row count} of the data tables that have rows (empty for a fresh database)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
            counts = {
                table: connection.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar()
                for table in DATA_TABLES
                if table in present
            }
    finally:
        engine.dispose()
    return {table: n for table, n in counts.items() if n}


def prune(folder, keep):
    """Delete all but the `keep` newest dated backups in `folder`; the paths deleted."""
    dated = sorted(Path(folder).glob("stations-*Z.*"), key=lambda path: path.name)
    dated = [path for path in dated if path.suffix in SUFFIXES.values()]
    old = dated[:-keep] if keep else dated
    for path in old:
        path.unlink()
    return old


def _sqlite_path(url):
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return url.database


def _sqlite_copy(src_path, dest_path):
    """Copy one SQLite file onto another with the online backup API: in one step, so the copy
    is a single consistent snapshot even while other connections write to the source."""
    if not os.path.exists(src_path):
        raise BackupError(f"{src_path} does not exist.")
    source = sqlite3.connect(src_path, timeout=30)
    target = sqlite3.connect(dest_path, timeout=30)
    try:
        source.backup(target)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite: {error}") from None
    finally:
        target.close()
        source.close()


def _backup_kind(src):
    with open(src, "rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{src} is neither a SQLite file nor a pg_dump archive.")


def _pg_restore(url, src):
    """pg_restore in one transaction, replacing the dump's tables, owned by the user restoring.

    Extensions are left out of the drop-and-create (dropping PostGIS needs its owner, and would
    take every other user of it along): it is created beforehand if missing, as init-db does.
    """
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    finally:
        engine.dispose()
    listing = _run(["pg_restore", "--list", str(src)], None).stdout
    wanted = "".join(
        line for line in listing.splitlines(keepends=True) if not _EXTENSION_ENTRY.match(line)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".list") as entries:
        entries.write(wanted)
        entries.flush()
        command = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges"]
        command += ["--single-transaction", "--exit-on-error", "--use-list", entries.name]
        _run([*command, str(src)], url)


def _run(command, url):
    """Run a PostgreSQL client tool against `url` (its password in PGPASSWORD, not in argv)."""
    extra = {}
    if url is not None:
        if url.password:
            extra["PGPASSWORD"] = url.password
        libpq = url.set(drivername="postgresql", password=None)
        command = [*command, "--dbname", libpq.render_as_string(hide_password=False)]
    try:
        env = child_environment(**extra)
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is missing: install postgresql-client.") from None
    except subprocess.CalledProcessError as failure:
        raise BackupError(f"{command[0]} failed: {failure.stderr.strip()}") from None
