"""The benchmark's results as Markdown: the wrk table, the nearest SQL table and the targets."""

import os
import platform
import re
from datetime import datetime
from pathlib import Path

COLUMNS = (
    *("backend", "size", "endpoint", "req/s", "p50 ms", "p99 ms", "% of health req/s"),
    *("worker peak RSS MB", "server CPU ms/req", "% of health by CPU", "errors", "others' CPU"),
)
SQL_COLUMNS = (
    *("size", "execution p50 ms", "execution p99 ms", "planning p50 ms", "planning p99 ms"),
    "index",
)
# (run, nearest as % of health req/s at least, nearest SQL p99 ms below, worker RSS MB below)
TARGETS = {
    "sqlite-sample": (45, None, 150),
    "sqlite-100k": (None, None, 300),
    "postgis-sample": (35, None, 150),
    "postgis-100k": (30, 2.0, 300),
}


def row(*cells):
    """One Markdown table row."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def report(results, *, version, setup):
    """The results as Markdown: the wrk table, the SQL table and the targets."""
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    machine = f"{os.cpu_count()} cores ({cpu.group(1) if cpu else platform.machine()})"
    lines = [
        f"# Nearest-stations benchmark, {datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"App: commit {version}. Machine: {machine}, Python {platform.python_version()}.",
        setup,
        "",
        row(*COLUMNS),
        row(*["---"] * 3, *["---:"] * 9),
    ]
    for result in results:
        backend, size = result["run"].split("-")
        health = result["health"]
        for endpoint in ("health", "nearest"):
            stats = result[endpoint]
            lines.append(
                row(
                    backend,
                    size,
                    endpoint,
                    f"{stats['rps']:.0f}",
                    f"{stats['p50_us'] / 1000:.1f}",
                    f"{stats['p99_us'] / 1000:.1f}",
                    f"{100 * stats['rps'] / health['rps']:.0f} %",
                    f"{result['rss_mb']:.0f}",
                    f"{stats['server_ms']:.2f}",
                    f"{100 * health['server_ms'] / stats['server_ms']:.0f} %",
                    stats["socket_errors"] + stats["non_2xx"],
                    f"{stats['others_pct']:.0f} %",
                )
            )
    sql_rows = [result for result in results if "sql" in result]
    if sql_rows:
        lines += [
            "",
            "Nearest SQL on PostGIS (EXPLAIN ANALYZE of the app's own statement, "
            f"{sql_rows[0]['sql']['queries']} random positions, `LIMIT 12`: "
            "limit 10 and two more to settle the order):",
            "",
            row(*SQL_COLUMNS),
            row("---", *["---:"] * 4, "---"),
        ]
        for result in sql_rows:
            sql = result["sql"]
            lines.append(
                row(
                    result["run"].split("-")[1],
                    *(f"{sql[key]:.3f}" for key in ("exec_p50_ms", "exec_p99_ms")),
                    *(f"{sql[key]:.3f}" for key in ("plan_p50_ms", "plan_p99_ms")),
                    ", ".join(sql["indexes"]) or "none (sequential scan)",
                )
            )
    lines += ["", "Targets:", ""]
    for result in results:
        lines += [f"- {result['run']}: {check}" for check in target_checks(result)]
    return "\n".join(lines) + "\n"


def target_checks(result):
    """One line of text per target of this run: the target, the measure, met or missed."""
    min_pct, max_sql_ms, max_rss_mb = TARGETS[result["run"]]
    checks = []
    if min_pct is not None:
        pct = 100 * result["nearest"]["rps"] / result["health"]["rps"]
        checks.append((f"nearest ≥ {min_pct} % of health", f"{pct:.0f} %", pct >= min_pct))
    if max_sql_ms is not None:
        p99 = result["sql"]["exec_p99_ms"]
        checks.append((f"nearest SQL p99 < {max_sql_ms} ms", f"{p99:.3f} ms", p99 < max_sql_ms))
        gist = result["sql"]["uses_gist_index"]
        checks.append(("plan uses ix_station_position", "yes" if gist else "no", gist))
    rss = result["rss_mb"]
    checks.append((f"worker RSS < {max_rss_mb} MB", f"{rss:.0f} MB", rss < max_rss_mb))
    return [f"{what}: {value} ({'met' if ok else 'MISSED'})" for what, value, ok in checks]
