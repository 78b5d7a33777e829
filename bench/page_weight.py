"""Budget check for the rider's page: bytes over the wire and time to a visible list, on weak 4G.

A benchmark, run by hand (not a test):

    .venv/bin/python bench/page_weight.py [--runs 5]

It serves the app with gunicorn on the generated sample (a fresh SQLite file, MAP_TILES=none),
then loads / in Debian's Chromium as a phone with a faked position, its network throttled
through the DevTools protocol to 1.6 Mbit/s each way with 150 ms latency, on a cold cache each
run. Budgets: <= 150 KB compressed over the wire on first load, list visible <= 1.5 s after
navigation (the page marks `list-shown` when it draws the list).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
THROUGHPUT_BYTES_S = 1.6e6 / 8
LATENCY_MS = 150
BUDGET_BYTES = 150 * 1024
BUDGET_LIST_MS = 1500
FUTIAN = {"latitude": 22.5431, "longitude": 114.0579}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir):
    """gunicorn on a fresh SQLite sample database, tiles off; returns (process, base URL)."""
    env = dict(os.environ, MAP_TILES="none")
    env["DATABASE_URL"] = "sqlite:///" + os.path.join(workdir, "bench.sqlite")
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    for command in ("init-db", "load-sample"):
        subprocess.run([*flask, command], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/api/v1/health", timeout=1).close()
            return server, base
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the app did not start")


# Cumulative layout shift while loading (the page should not jump as it fills in).
LAYOUT_SHIFTS = """
window.__shift = 0;
new PerformanceObserver(list => list.getEntries().forEach(e => {
  if (!e.hadRecentInput) window.__shift += e.value;
})).observe({type: "layout-shift", buffered: true});
"""


def one_load(browser, base):
    """One cold first load: bytes until the list shows and in all, ms to list, shift, URLs."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation=FUTIAN,
        permissions=["geolocation"],
        service_workers="block",
    )
    page = context.new_page()
    page.add_init_script(LAYOUT_SHIFTS)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": LATENCY_MS,
            "downloadThroughput": THROUGHPUT_BYTES_S,
            "uploadThroughput": THROUGHPUT_BYTES_S,
        },
    )
    sizes, urls, external = {}, {}, []
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto(base + "/")
    page.wait_for_selector("#list li.station")
    list_ms = page.evaluate("performance.getEntriesByName('list-shown')[0].startTime")
    bytes_at_list = sum(sizes.values())
    page.wait_for_load_state("networkidle")
    shift = page.evaluate("window.__shift")
    external = [url for url in urls.values() if not url.startswith(base)]
    context.close()
    return bytes_at_list, sum(sizes.values()), list_ms, sorted(set(urls.values())), external, shift


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        server, base = start_server(workdir)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                runs = [one_load(browser, base) for _ in range(args.runs)]
                browser.close()
        finally:
            server.terminate()
            server.wait()
    at_list = statistics.median(run[0] for run in runs)
    total = statistics.median(run[1] for run in runs)
    list_ms = [run[2] for run in runs]
    external = sorted({url for run in runs for url in run[4]})
    result = {
        "network": f"{THROUGHPUT_BYTES_S * 8 / 1e6:g} Mbit/s, {LATENCY_MS} ms latency",
        "runs": args.runs,
        "bytes_until_list_median": at_list,
        "bytes_first_load_median": total,
        "list_visible_ms": [round(ms) for ms in list_ms],
        "list_visible_ms_median": round(statistics.median(list_ms)),
        "layout_shift_max": round(max(run[5] for run in runs), 4),
        "requests": [url.removeprefix(base) for url in runs[0][3]],
        "external_requests": external,
    }
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "page_weight.json"), "w") as file:
        json.dump(result, file, indent=2)
    print(json.dumps(result, indent=2))
    verdicts = [
        ("first load, compressed bytes", total, BUDGET_BYTES),
        ("list visible, median ms", result["list_visible_ms_median"], BUDGET_LIST_MS),
        ("list visible, slowest ms", max(list_ms), BUDGET_LIST_MS),
    ]
    ok = not external
    for what, value, budget in verdicts:
        print(f"{what}: {value:.0f} (budget {budget}) {'ok' if value <= budget else 'OVER'}")
        ok = ok and value <= budget
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
