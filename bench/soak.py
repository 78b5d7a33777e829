"""Soak: a long mixed load against the app as deployed, watching for 5xx, memory growth and
latency drift. A benchmark, run by hand (not a test):

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 150] [--workers 2]

It loads the sample into a fresh PostGIS database (stations_bench_soak), makes an API key (its
limit out of reach: every request counted, none refused) and one manager per client thread, and
serves the app with gunicorn and deploy/gunicorn.conf.py (limits on, counted in a machine file;
LOG_FORMAT=json to a log file; metrics on). Client threads then send, at a steady total rate
(--rate requests a second, so latency is the server's, not a queue's), a mix of:

    nearest 80 %   one random Shenzhen position, random amenity filters, keyed
    bbox    10 %   a random box of about 2 x 2 km, keyed
    station  5 %   one station by id, keyed
    feed     3 %   the change feed from a recent cursor, keyed
    save     2 %   a manager's save (an amenity toggled on the thread's own station), as a form

Every 10 s it reads the workers' resident memory. It reports, per 5-minute slice, each kind's
count, median and p99, the non-2xx answers by status, and the workers' memory; then the verdicts
of issue 12: zero 5xx; memory growth under 5 % from the end of the first 5 minutes to the end;
each kind's p99 in the last slice within 1.5x (+2 ms) of the second slice's. Writes
bench/results/soak-<time>.md.
"""

import argparse
import http.client
import json
import math
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from procfs import worker_pids
from run import free_port

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PG_ROOT_URL = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "stations_bench_soak"
MIX = {"nearest": 80, "bbox": 10, "station": 5, "feed": 3, "save": 2}
AMENITIES = ("drinking_water", "food_heating", "phone_charging", "toilet")
SLICE_S = 300
SAMPLE_EVERY_S = 10
PASSWORD = "soak-" + secrets.token_hex(8)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def run(command, env, stdin=None):
    """Run a command from the repository root; its output, or exit with it on failure."""
    done = subprocess.run(
        command, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout}{done.stderr}")
    return done.stdout


def prepare(env, managers):
    """A fresh database with the sample, a key and `managers` managers (one station each):
    (the key, [(email, station id)], [station ids])."""
    for statement in ("DROP DATABASE IF EXISTS", "CREATE DATABASE"):
        run(["psql", PG_ROOT_URL + "/postgres", "-qc", f"{statement} {DATABASE}"], env)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    run([*flask, "init-db"], env)
    run([*flask, "load-sample"], env)
    created = run([*flask, "create-api-key", "soak", "--per-minute", "1000000"], env)
    rows = run(
        ["psql", env["DATABASE_URL"], "-Atc", "SELECT id, external_id FROM station ORDER BY id"],
        env,
    ).split()
    stations = [row.split("|") for row in rows]
    accounts = []
    for number, (station_id, external_id) in enumerate(stations[:managers]):
        email = f"soak{number}@example.org"
        command = [*flask, "create-user", email, "--role", "manager", "--station", external_id]
        run(command, env, stdin=f"{PASSWORD}\n{PASSWORD}\n")
        accounts.append((email, int(station_id)))
    run(["psql", env["DATABASE_URL"], "-qc", "ANALYZE"], env)
    key = re.search(r"^rsk_\S+$", created, re.M).group(0)
    return key, accounts, [int(station_id) for station_id, _ in stations]


class Client:
    """One keep-alive connection, with the cookies the server set."""

    def __init__(self, port):
        self.port, self.cookies = port, {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method, path, headers=None, body=None):
        """(status, body text)."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            text = response.read().decode()
        except (OSError, http.client.HTTPException):
            self.connection.close()  # a new connection for the next request
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 0, ""
        for value in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, email):
        """Log in as a manager; the CSRF token for later forms."""
        _, page = self.send("GET", "/login")
        form = {"csrf_token": CSRF.search(page).group(1), "email": email, "password": PASSWORD}
        status, _ = self.send("POST", "/login", *_form(form))
        assert status == 302, f"login of {email} answered {status}"
        _, page = self.send("GET", "/manage/")
        return CSRF.search(page).group(1)


def _form(fields):
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    return headers, urllib.parse.urlencode(fields)


class Load:
    """The client threads, the samples they record, and the memory readings."""

    def __init__(self, port, key, accounts, station_ids, rate, duration_s):
        self.port, self.key, self.station_ids = port, key, station_ids
        self.accounts, self.rate, self.duration_s = accounts, rate, duration_s
        self.records = []  # (seconds since start, kind, status, latency ms)
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.cursor = "0"

    def request(self, client, kind, rng, state):
        """Send one request of `kind`; its status."""
        keyed = {"X-API-Key": self.key}
        if kind == "nearest":
            lat, lng = rng.uniform(22.50, 22.75), rng.uniform(113.85, 114.35)
            query = {"lat": f"{lat:.5f}", "lng": f"{lng:.5f}"}
            if rng.random() < 0.5:
                query["amenities"] = rng.choice(AMENITIES)
            return client.send(
                "GET", "/api/v1/stations/nearest?" + urllib.parse.urlencode(query), keyed
            )[0]
        if kind == "bbox":
            lat, lng = rng.uniform(22.50, 22.75), rng.uniform(113.85, 114.35)
            box = f"{lng:.5f},{lat:.5f},{lng + 0.02:.5f},{lat + 0.02:.5f}"
            return client.send("GET", f"/api/v1/stations?bbox={box}", keyed)[0]
        if kind == "station":
            return client.send("GET", f"/api/v1/stations/{rng.choice(self.station_ids)}", keyed)[0]
        if kind == "feed":
            status, text = client.send(
                "GET", f"/api/v1/stations/changes?since={self.cursor}&limit=100", keyed
            )
            if status == 200:
                self.cursor = json.loads(text)["next_cursor"]
            return status
        return self.save(client, rng, state)

    def save(self, client, rng, state):
        """A manager's save: one amenity of the thread's own station set to yes or no."""
        if "csrf" not in state:
            state["csrf"] = client.login(state["email"])
        form = {
            "csrf_token": state["csrf"],
            "version": state.get("version", 1),
            "amenity": rng.choice(AMENITIES),
            "value": rng.choice(("yes", "no")),
        }
        path = f"/manage/stations/{state['station_id']}/amenities"
        status, text = client.send("POST", path, *_form(form))
        if status in (200, 409):
            answer = json.loads(text)
            state["version"] = (answer.get("data") or answer.get("current") or {}).get(
                "version", state.get("version", 1)
            )
        return status

    def thread(self, number, rate):
        """Send requests at `rate` a second until the end, each of a kind drawn from MIX."""
        rng = random.Random(number)
        client = Client(self.port)
        email, station_id = self.accounts[number]
        state = {"email": email, "station_id": station_id}
        kinds, weights = list(MIX), list(MIX.values())
        due = time.monotonic()
        end = self.started + self.duration_s
        while due < end:
            due += rng.expovariate(rate)  # Poisson arrivals: no lockstep between threads
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            kind = rng.choices(kinds, weights)[0]
            began = time.monotonic()
            status = self.request(client, kind, rng, state)
            latency_ms = (time.monotonic() - began) * 1000
            with self.lock:
                self.records.append((began - self.started, kind, status, latency_ms))


def rss_mb(master_pid):
    """Each worker's resident memory, in MB."""
    found = {}
    for pid in worker_pids(master_pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found[pid] = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1)) / 1024
    return found


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(load, memory, args, log_path):
    """The Markdown report and the verdicts."""
    slices = defaultdict(lambda: defaultdict(list))
    statuses = Counter()
    last = max(0, math.ceil(load.duration_s / SLICE_S) - 1)  # a request past the end: the last
    for at_s, kind, status, latency_ms in load.records:
        slices[min(last, int(at_s // SLICE_S))][kind].append(latency_ms)
        if not 200 <= status < 300 and not (kind == "save" and status == 409):
            statuses[(kind, status)] += 1
    lines = [
        f"# Soak, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"{args.minutes} minutes, {args.rate} requests/s in {args.threads} threads, gunicorn "
        f"{args.workers} workers with deploy/gunicorn.conf.py, PostGIS, limits on (machine "
        f"file, keyed), LOG_FORMAT=json, metrics on. {len(load.records)} requests. "
        f"Load average at the end: {os.getloadavg()[0]:.1f}. Log: {log_path.name}.",
        "",
        "| slice | kind | count | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for number in sorted(slices):
        for kind in MIX:
            values = slices[number][kind]
            end_min = min(number * 5 + 5, args.minutes)
            lines.append(
                f"| {number * 5}–{end_min:g} min | {kind} | {len(values)} | "
                f"{percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} |"
            )
    lines += ["", "Workers' resident memory (MB), every minute:", ""]
    for at_s, found in memory[:: max(1, 60 // SAMPLE_EVERY_S)]:
        lines.append(f"- {at_s / 60:4.1f} min: " + ", ".join(f"{mb:.1f}" for mb in found.values()))
    server_errors = sum(n for (_, status), n in statuses.items() if status >= 500 or status == 0)
    lines += [
        "",
        "Answers other than 2xx (and a save's 409 conflict): "
        + (
            ", ".join(f"{kind} {status}: {n}" for (kind, status), n in sorted(statuses.items()))
            or "none"
        ),
        "",
    ]
    after_5 = [found for at_s, found in memory if at_s >= SLICE_S]
    verdicts = [
        f"- 5xx or failed connections: {server_errors} (target 0): "
        + ("met" if server_errors == 0 else "MISSED")
    ]
    if after_5:
        first, last = sum(after_5[0].values()), sum(after_5[-1].values())
        growth = 100 * (last - first) / first
        verdicts.append(
            f"- memory from 5 min to the end: {first:.1f} → {last:.1f} MB (all workers), "
            f"{growth:+.1f} % (target < 5 %): " + ("met" if growth < 5 else "MISSED")
        )
        if set(after_5[0]) != set(after_5[-1]):
            verdicts.append("- warning: the workers changed during the run")
    last_slice = max(slices)
    if last_slice >= 2:
        for kind in MIX:
            early = percentile(slices[1][kind], 0.99)
            late = percentile(slices[last_slice][kind], 0.99)
            stable = late <= 1.5 * early + 2
            verdicts.append(
                f"- {kind} p99, 5–10 min vs last slice: {early:.1f} → {late:.1f} ms: "
                + ("stable" if stable else "DRIFTED")
            )
    return "\n".join(lines + ["## Verdicts", "", *verdicts]) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=150, help="requests a second, in all")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks run
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = tempfile.mkdtemp(prefix="stations-soak-")
    unset = ("FLASK_ENV", "FLASK_DEBUG", "REDIS_URL", "RATELIMIT_ENABLED", "API_LIMIT_PER_IP")
    env = {k: v for k, v in os.environ.items() if k not in unset} | {
        "DATABASE_URL": f"{PG_ROOT_URL}/{DATABASE}",
        "RATELIMIT_FILE": f"{workdir}/limits.sqlite",
        "LOG_FORMAT": "json",
        "SECRET_KEY": secrets.token_hex(32),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # logins are not what is measured
    }
    print("preparing the database", flush=True)
    key, accounts, station_ids = prepare(env, args.threads)
    port = free_port()
    log_path = results / f"soak-{stamp}-gunicorn.log"
    with open(log_path, "w") as log:
        command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
        command += ["-w", str(args.workers), "-b", f"127.0.0.1:{port}", "app:app"]
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            for _ in range(300):
                if Client(port).send("GET", "/api/v1/health")[0] == 200:
                    break
                time.sleep(0.1)
            time.sleep(2)  # every worker loaded
            load = Load(port, key, accounts, station_ids, args.rate, args.minutes * 60)
            threads = [
                threading.Thread(target=load.thread, args=(n, args.rate / args.threads))
                for n in range(args.threads)
            ]
            for thread in threads:
                thread.start()
            memory = []
            print(f"soaking for {args.minutes} minutes at {args.rate}/s", flush=True)
            while any(thread.is_alive() for thread in threads):
                memory.append((time.monotonic() - load.started, rss_mb(server.pid)))
                time.sleep(SAMPLE_EVERY_S)
            memory.append((time.monotonic() - load.started, rss_mb(server.pid)))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    text = report(load, memory, args, log_path)
    (results / f"soak-{stamp}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
