"""Command-line tasks: schema, sample data, imports, accounts, backups."""

import os
import sys
import time

import click
from flask_migrate import upgrade

from . import backup
from .core import accounts, checkins, importer
from .core.datum import DATUMS
from .core.db import db
from .core.hours import local_now
from .core.models import ROLES

SAMPLE_FILE = os.path.join(os.path.dirname(__file__), "core", "data", "sample_stations.csv")


@click.command("init-db")
def init_db_command():
    """Create or upgrade the schema (idempotent; adds PostGIS on PostgreSQL)."""
    upgrade()
    click.echo(f"Schema is up to date ({db.engine.dialect.name}).")


@click.command("load-sample")
def load_sample_command():
    """Load the generated sample stations (idempotent)."""
    counts = _import_or_exit(SAMPLE_FILE, crs="wgs84", is_sample=True)
    click.echo("Sample stations: " + _counts_text(counts))


@click.command("import-stations")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", type=click.Choice(DATUMS), default="wgs84")
def import_stations_command(path, crs):
    """Import stations from a CSV, XLSX or GeoJSON file (all rows or none), showing progress."""
    started = time.monotonic()

    def progress(text):  # on stderr, with the time since the command started
        click.echo(f"[{time.monotonic() - started:6.1f} s] {text}", err=True)

    counts = _import_or_exit(path, crs=crs, is_sample=False, progress=progress)
    click.echo("Imported: " + _counts_text(counts))


def _import_or_exit(path, *, crs, is_sample, progress=importer.quiet):
    try:
        return importer.import_stations(path, crs=crs, is_sample=is_sample, progress=progress)
    except importer.ImportFailed as failure:
        for line in failure.errors:
            click.echo(line, err=True)
        problems = len(failure.errors)
        raise click.ClickException(f"{problems} problem(s); nothing was imported.") from None


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option(
    "--station",
    "stations",
    multiple=True,
    metavar="EXTERNAL_ID",
    help="A station this manager runs (repeat for several).",
)
def create_user_command(email, role, stations):
    """Create an account; the password is read from standard input."""
    password = _read_password()
    try:
        found = accounts.stations_by_external_id(stations)
        user = accounts.create_user(
            email, role=role, password=password, stations=found, actor=None, source="cli"
        )
        db.session.commit()
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    assigned = ", ".join(s.external_id for s in user.stations) or "no stations"
    click.echo(f"Created {user.role} {user.email} ({assigned}).")


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=True, dir_okay=True, writable=True))
@click.option("--keep", type=click.IntRange(min=1), help="Into a folder: keep this many backups.")
def backup_command(dest, keep):
    """Back up the database to DEST: a file, or a folder for a dated file (consistent while the
    app serves)."""
    url = db.engine.url
    folder = os.path.isdir(dest)
    if keep and not folder:
        raise click.UsageError("--keep needs DEST to be a folder.")
    path = os.path.join(dest, backup.backup_name(url.get_backend_name())) if folder else dest
    try:
        written = backup.backup(url, path)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up to {written}.")
    for old in backup.prune(dest, keep) if keep else ():
        click.echo(f"Deleted {old}.")


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace a database that holds data.")
def restore_command(src, force):
    """Replace the database with the backup SRC (stop the app servers first)."""
    url = db.engine.url
    db.engine.dispose()  # our own connections hold no lock on what is replaced
    try:
        backup.restore(url, src, force=force)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Restored {src}; run `flask --app app init-db` if it is from an older release.")


def _read_password():
    """The password: asked twice, unseen, on a terminal; else the first line of stdin."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


def _counts_text(counts):
    return ", ".join(f"{n} {what}" for what, n in counts.items())


@click.command("prune-checkins")
def prune_checkins_command():
    """Delete rider check-ins older than 30 days, which nothing reads (run daily, deploy guide)."""
    deleted = checkins.prune(now=local_now())
    click.echo(f"Deleted {deleted} check-in(s) older than 30 days.")


def init_app(app):
    """Register the commands."""
    commands = (init_db_command, load_sample_command, import_stations_command, create_user_command)
    commands += (backup_command, restore_command, prune_checkins_command)
    for command in commands:
        app.cli.add_command(command)
