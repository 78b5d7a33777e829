"""The systemd units and the settings file in deploy/: they parse, and they agree with the
Procfile, the README's Configuration table and each other."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("stations.service", "stations-backup.service", "stations-backup.timer")
UNITS += ("stations-prune-coverage.service", "stations-prune-coverage.timer")
INSTALLED_AT = "/srv/stations"  # where the units expect the code, as docs/deploy.md installs it


def unit(name):
    """{section: {key: [values]}} of a unit file (systemd lets a key repeat)."""
    sections, current = {}, None
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        current.setdefault(key, []).append(value)
    return sections


def test_systemd_verifies_the_units(tmp_path):
    """systemd-analyze verify, on copies pointing at this checkout (its .venv runs them)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI"):
            raise AssertionError("systemd-analyze is missing: .ci/run installs systemd")
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        (tmp_path / name).write_text(text.replace(INSTALLED_AT, str(ROOT)))
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
    )
    # Unknown keys and bad values are only warnings: any output fails the test.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_service_runs_what_the_procfile_runs():
    service = unit("stations.service")["Service"]
    procfile = (ROOT / "Procfile").read_text().split(":", 1)[1].split()
    command = service["ExecStart"][0].split()
    assert command[0] == f"{INSTALLED_AT}/.venv/bin/gunicorn"
    assert command[1:] == procfile[1:]
    assert service["WorkingDirectory"] == [INSTALLED_AT]


@pytest.mark.parametrize(
    "name", ["stations.service", "stations-backup.service", "stations-prune-coverage.service"]
)
def test_both_services_run_as_the_app_with_its_settings(name):
    service = unit(name)["Service"]
    assert service["User"] == service["Group"] == ["stations"]
    assert service["EnvironmentFile"] == ["/etc/stations/stations.env"]
    assert service["WorkingDirectory"] == [INSTALLED_AT]
    assert service["ProtectSystem"] == ["strict"]
    assert service["NoNewPrivileges"] == ["yes"]
    # The instance folder (SQLite, the generated key) is the one place it may write.
    assert service["ReadWritePaths"] == [f"{INSTALLED_AT}/instance"]


def test_the_timer_runs_the_backup_daily_into_its_state_directory():
    timer = unit("stations-backup.timer")["Timer"]
    assert timer["OnCalendar"] == ["*-*-* 03:30:00"]
    assert timer["Persistent"] == ["yes"]
    backup = unit("stations-backup.service")["Service"]
    assert backup["Type"] == ["oneshot"]
    command = backup["ExecStart"][0].split()
    assert command[:4] == [f"{INSTALLED_AT}/.venv/bin/flask", "--app", "app", "backup"]
    assert command[4] == "/var/lib/" + backup["StateDirectory"][0]


def test_the_timer_prunes_coverage_counts_daily():
    timer = unit("stations-prune-coverage.timer")["Timer"]
    assert timer["OnCalendar"] == ["*-*-* 04:15:00"]
    assert timer["Persistent"] == ["yes"]
    prune = unit("stations-prune-coverage.service")["Service"]
    assert prune["Type"] == ["oneshot"]
    command = prune["ExecStart"][0].split()
    assert command == [
        f"{INSTALLED_AT}/.venv/bin/flask",
        *("--app", "app", "prune-coverage", "--keep-days", "180"),
    ]


def _readme_variables():
    """The variable names of the README's Configuration table."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = []
    for row in table.splitlines():
        if row.startswith("| `"):
            names += re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    return names


def test_the_settings_file_names_every_variable_of_the_readme():
    example = (DEPLOY / "stations.env.example").read_text()
    named = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    wanted = {name for name in _readme_variables() if not name.startswith("TEST_")}
    assert len(wanted) > 15
    assert wanted - named == set()
    # Set, not commented: the one value deploy/nginx.conf needs.
    assert re.search(r"^TRUSTED_PROXIES=1$", example, flags=re.MULTILINE)
