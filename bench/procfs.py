"""What /proc says about the benchmark's processes and about everyone else on the machine."""

import os
import re
import resource
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
QUIET_PCT = 10  # others' CPU share under which a wrk run may start (the machine may be shared)
QUIET_WAIT_S = 120


def worker_pids(master_pid):
    """The gunicorn workers: the master's child processes."""
    return [
        int(pid)
        for pid in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    ]


def server_pids(master_pid, database):
    """The processes serving the benchmark: gunicorn workers and their PostgreSQL backends."""
    pids = worker_pids(master_pid)
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_text()
        except OSError:
            continue  # gone meanwhile
        if database and title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(cmdline.parent.name))
    return pids


def busy_cpu_s():
    """CPU seconds the whole machine has been busy since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_for_quiet(max_wait_s=QUIET_WAIT_S):
    """Wait (a bounded time) until other processes use under QUIET_PCT of the CPU for a second."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        before = busy_cpu_s()
        time.sleep(1)
        others_pct = 100 * (busy_cpu_s() - before) / os.cpu_count()
        if others_pct < QUIET_PCT:
            return
    print(f"  warning: the machine is busy ({others_pct:.0f} % CPU); measuring anyway")


def cpu_snapshot(master_pid, database):
    """(now, machine busy, our servers, our finished children such as wrk), in seconds."""
    busy_s = busy_cpu_s()
    server_s = 0.0
    for pid in server_pids(master_pid, database):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that has just closed
        server_s += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    finished = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic(), busy_s, server_s, finished.ru_utime + finished.ru_stime


def worker_peak_rss_mb(master_pid):
    """{pid: VmHWM in MB} of the gunicorn workers."""
    peaks = {}
    for pid in worker_pids(master_pid):
        status = Path(f"/proc/{pid}/status").read_text()
        peaks[pid] = int(re.search(r"^VmHWM:\s*(\d+) kB", status, re.M).group(1)) / 1024
    return peaks
