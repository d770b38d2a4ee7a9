"""What the benchmarks measure besides requests: CPU and RSS of process groups (from /proc), how busy the
whole machine is, and bounded waits for a quiet machine (others share this 2-core box)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from _common import log

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the whole machine

def _cpu_times() -> tuple[float, float, float]:
    """(busy, total, steal) jiffies of the whole machine since boot; busy includes steal."""
    with open("/proc/stat") as f:
        parts = [float(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts), parts[7] if len(parts) > 7 else 0.0


class MachineWindow:
    """The whole machine over a window, in % of one core (200% = this box): how busy it was, and how
    much of that the hypervisor gave other guests (steal). On a shared VM a window can lose a third of
    the box that way, and a ceiling measured then reads low: the steal says which ratios are not
    measurements."""

    def __init__(self) -> None:
        self._start = _cpu_times()

    def pcts(self) -> tuple[float, float]:
        """(busy, stolen) since the window began."""
        (busy0, total0, steal0), (busy, total, steal) = self._start, _cpu_times()
        scale = 100.0 * (os.cpu_count() or 1) / max(1e-9, total - total0)
        return scale * (busy - busy0), scale * (steal - steal0)


def machine_busy(seconds: float = 1.0) -> float:
    """% of one core busy on the whole machine over `seconds`."""
    window = MachineWindow()
    time.sleep(seconds)
    return window.pcts()[0]


def wait_quiet(max_wait_s: float, threshold: float = 40.0) -> float:
    """Waits (bounded) until the machine is quiet: others share this box. Returns the last busy %."""
    deadline = time.monotonic() + max_wait_s
    busy = machine_busy(2.0)
    while busy > threshold and time.monotonic() < deadline:
        log(f"machine busy {busy:.0f}% (outside load): waiting for quiet")
        busy = machine_busy(3.0)
    return busy


def busy_before(max_wait_s: float) -> float:
    """How busy the machine is before a measured phase: after a quiet wait of up to max_wait_s, or (0)
    from one 1-s sample."""
    return wait_quiet(max_wait_s) if max_wait_s else machine_busy(1.0)


# ---------------------------------------------------------------- processes

def proc_cpu_s(pids: Iterable[int]) -> dict[int, float]:
    """utime+stime (fields 14 and 15 of /proc/<pid>/stat) in seconds, per live pid."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is field 3 (state)
        out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)


def postgres_pids(db_name: str | None = None) -> list[int]:
    """PostgreSQL processes; with db_name, only the backends connected to that database."""
    import psutil
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] != "postgres":
            continue
        if db_name is None or f" {db_name} " in " ".join(p.info["cmdline"] or []) + " ":
            out.append(p.pid)
    return out


class CpuMeter:
    """CPU time of process groups over a window, in % of one core (200% = both cores of this box).

    Groups are sampled every second in a thread, so that processes which end inside the window (a
    database connection recycled by the pool, say) still count, up to their last sample."""

    def __init__(self, groups: dict[str, Any], every_s: float = 1.0) -> None:
        # groups: name -> callable returning pids, or a process name to match (e.g. "postgres")
        self.groups = groups
        self._every = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}

    def _pids(self, spec: Any) -> list[int]:
        import psutil
        if callable(spec):
            return list(spec())
        return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == spec]

    def _sample(self, first: bool = False) -> None:
        for name, spec in self.groups.items():
            now = proc_cpu_s(self._pids(spec))
            seen = self._first.setdefault(name, {})
            for pid in now:
                # A process first seen after the start began inside the window: all its CPU counts.
                seen.setdefault(pid, now[pid] if first else 0.0)
            self._last.setdefault(name, {}).update(now)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def start(self) -> None:
        self._first, self._last, self._stop = {}, {}, threading.Event()  # a meter may measure several windows
        self._t0 = time.monotonic()
        self._machine = MachineWindow()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        elapsed = time.monotonic() - self._t0
        busy, stolen = self._machine.pcts()
        self._sample()
        result = {"machine": busy, "steal": stolen}
        for name in self.groups:
            result[name] = 100.0 * cpu_delta(self._first.get(name, {}), self._last.get(name, {})) / elapsed
        return result


# ---------------------------------------------------------------- memory

def vm_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples VmRSS of `pids()` every `interval_s` in a thread; peaks per pid and of the sum, and with
    keep_series every sample as (wall-clock time, {pid: kB})."""

    def __init__(self, pids: Callable[[], list[int]], interval_s: float = 0.05, max_s: float = 3600,
                 keep_series: bool = False) -> None:
        self._pids = pids
        self._interval = interval_s
        self._max_s = max_s
        self._keep_series = keep_series
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.peak: dict[int, int] = {}
        self.peak_sum = 0
        self.last: dict[int, int] = {}
        self.series: list[tuple[float, dict[int, int]]] = []
        self._window_peak_sum = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        now: dict[int, int] = {}
        for pid in self._pids():
            kb = vm_rss_kb(pid)
            if kb is not None:
                now[pid] = kb
        with self._lock:
            self.last = now
            if self._keep_series:
                self.series.append((time.time(), now))
            total = sum(now.values())
            self.peak_sum = max(self.peak_sum, total)
            self._window_peak_sum = max(self._window_peak_sum, total)
            for pid, kb in now.items():
                self.peak[pid] = max(self.peak.get(pid, 0), kb)

    def reset_window(self) -> None:
        with self._lock:
            self._window_peak_sum = 0

    @property
    def window_peak_sum(self) -> int:
        with self._lock:
            return self._window_peak_sum

    def current_sum(self) -> int:
        self.sample()
        with self._lock:
            return sum(self.last.values())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
