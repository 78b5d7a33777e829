"""PostgreSQL servers of a test's own (never the shared one): started, stopped, restarted and
replicated by the fault and topology tests, on free 127.0.0.1 ports, with PostGIS available."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from servers import free_port


def _bin(name):
    """The path of one of PostgreSQL's server programs (not on PATH in Debian)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        if os.environ.get("CI"):
            raise AssertionError(f"PostgreSQL's {name} is not installed")
        pytest.skip(f"PostgreSQL's {name} is not installed")
    return found[-1]


def _as_postgres(command, **options):
    """Run a PostgreSQL program; as the postgres user when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **options)


class PostgresServer:
    """One PostgreSQL cluster in a directory of its own, listening on 127.0.0.1:`port`."""

    def __init__(self, directory, port):
        self.directory = Path(directory)
        self.port = port
        self.standbys = []

    def url(self, database="postgres"):
        """A SQLAlchemy URL of this server (trust auth, user postgres)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self):
        """Start the server and wait until it accepts connections."""
        log = self.directory / "server.log"
        _as_postgres([_bin("pg_ctl"), "-D", str(self.directory), "-l", str(log), "-w", "start"])

    def stop(self, mode="fast"):
        """Stop the server (`fast`: sessions are ended; `immediate`: as a crash would)."""
        _as_postgres([_bin("pg_ctl"), "-D", str(self.directory), "-m", mode, "-w", "stop"])

    def is_running(self):
        """Whether the server's postmaster runs."""
        try:
            _as_postgres([_bin("pg_ctl"), "-D", str(self.directory), "status"])
        except subprocess.CalledProcessError:
            return False
        return True

    def configure(self, **settings):
        """Append settings to postgresql.conf (they count from the next start)."""
        lines = "".join(f"{name} = '{value}'\n" for name, value in settings.items())
        with open(self.directory / "postgresql.conf", "a") as conf:
            conf.write(lines)

    def replica(self, parent):
        """A hot standby of this (running) server, made by `pg_basebackup -R`, started, in a new
        directory under `parent`: streaming replication on loopback."""
        directory = _own_directory(parent)
        os.rmdir(directory)  # pg_basebackup makes it
        _as_postgres(
            [
                _bin("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-D",
                str(directory),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ]
        )
        standby = PostgresServer(directory, free_port())
        standby.configure(port=standby.port, unix_socket_directories=str(directory))
        standby.start()
        self.standbys.append(standby)
        return standby


def _own_directory(parent):
    """An empty directory that the postgres user owns: under `parent`; as root, under the
    system's temporary folder instead, since pytest's own (mode 0700, root's) is closed to
    the postgres user. Either way own_postgres removes it afterwards."""
    if os.geteuid() != 0:
        return Path(tempfile.mkdtemp(prefix="pg-", dir=parent))
    directory = tempfile.mkdtemp(prefix="pg-stations-test-")
    user = pwd.getpwnam("postgres")
    os.chown(directory, user.pw_uid, user.pw_gid)
    return Path(directory)


@contextmanager
def own_postgres(parent):
    """A new PostgreSQL server under `parent` (a directory), started, with its
    replicas' connections allowed; stopped and removed afterwards."""
    directory = _own_directory(parent)
    _as_postgres(
        [
            _bin("initdb"),
            "-D",
            str(directory),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
    )
    server = PostgresServer(directory, free_port())
    server.configure(
        port=server.port,
        listen_addresses="127.0.0.1",
        unix_socket_directories=str(directory),
        wal_level="replica",
        fsync="off",  # a test's server: speed over durability of the machine's crash
    )
    server.start()
    try:
        yield server
    finally:
        for each in [*server.standbys, server]:
            if each.is_running():
                each.stop("immediate")
            shutil.rmtree(each.directory, ignore_errors=True)
