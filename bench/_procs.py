"""The benchmarks' own subprocesses: the load generator (_loadgen.py, one JSON result on stdout) and the
_live.py roles (JSON lines both ways). Load runs outside the measuring process so that its CPU is
counted apart and never starves the measurement."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from _common import BENCH


class _Spawned:
    """`python bench/<script> [role] SPEC.json`: the spec written to a file, stderr kept for the error."""

    def __init__(self, script: str, role: list[str], spec: dict[str, Any], spec_path: str, **popen: Any) -> None:
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        self.err_path = spec_path + ".err"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(BENCH / script), *role, spec_path], stderr=self._err,
                                     **popen)
        self.pid = self.proc.pid

    def _wait(self, timeout_s: float) -> bool:
        """Waits for the exit, killing the process past timeout_s; False if it had to be killed."""
        try:
            self.proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            return False

    def err_tail(self, chars: int = 3000) -> str:
        return Path(self.err_path).read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


# ---------------------------------------------------------------- the load generator (_loadgen.py)

class LoadGen(_Spawned):
    """Runs bench/_loadgen.py with a JSON spec; it prints one JSON result on stdout."""

    def __init__(self, spec: dict[str, Any], workdir: str) -> None:
        fd, spec_path = tempfile.mkstemp(suffix=".json", dir=workdir)
        os.close(fd)
        self.out_path = spec_path + ".out"
        self._out = open(self.out_path, "wb")
        super().__init__("_loadgen.py", [], spec, spec_path, stdout=self._out)

    def result(self, timeout_s: float) -> dict[str, Any]:
        if not self._wait(timeout_s):
            raise RuntimeError("load generator overran its time bound")
        self._out.close()
        self._err.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({self.proc.returncode}):\n{self.err_tail()}")
        result: dict[str, Any] = json.loads(Path(self.out_path).read_text())
        return result


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


def merge_results(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merges load-generator results: outcome counts add up, latency samples concatenate."""
    merged: dict[str, Any] = {"outcomes": {}, "latency": {}, "cpu_s": 0.0, "elapsed_s": 0.0, "windows": {},
                              "bytes": 0, "notes": [], "reconnects": 0}
    for r in results:
        for k, v in r["outcomes"].items():
            merged["outcomes"][k] = merged["outcomes"].get(k, 0) + v
        for k, v in r["latency"].items():
            merged["latency"].setdefault(k, []).extend(v)
        for w, counts in r["windows"].items():
            slot = merged["windows"].setdefault(w, {})
            for k, v in counts.items():
                slot[k] = slot.get(k, 0) + v
        merged["cpu_s"] += r["cpu_s"]
        merged["elapsed_s"] = max(merged["elapsed_s"], r["elapsed_s"])
        merged["bytes"] += r.get("bytes", 0)
        merged["reconnects"] += r.get("reconnects", 0)
        for n in r.get("notes", []):
            if n not in merged["notes"]:
                merged["notes"].append(n)
    return merged


# ---------------------------------------------------------------- _live.py roles: JSON lines both ways

class Child(_Spawned):
    """`python bench/_live.py ROLE SPEC.json` with JSON lines on stdout (read by a thread) and commands
    on stdin."""

    def __init__(self, role: str, spec: dict[str, Any], workdir: str, name: str) -> None:
        self.name = name
        super().__init__("_live.py", [role], spec, os.path.join(workdir, f"{name}.json"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # ends when the child exits
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def last(self, ev: str) -> dict[str, Any] | None:
        with self._cond:
            for e in reversed(self.events):
                if e.get("ev") == ev:
                    return e
        return None

    def wait_for(self, ev: str, timeout_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for e in reversed(self.events):
                    if e.get("ev") == ev:
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.5))

    def send(self, line: str) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def finish(self, timeout_s: float) -> dict[str, Any]:
        """Waits for the child's 'result' line and exit (killing it past timeout_s)."""
        self._wait(timeout_s)
        self._reader.join(timeout=10)
        self._err.close()
        result = self.last("result")
        if result is None:
            raise RuntimeError(f"{self.name} (pid {self.pid}) ended with {self.proc.returncode} and no result:\n"
                               f"{self.err_tail()}")
        return result


def emit(event: dict[str, Any]) -> None:
    """The child's side: one JSON line on stdout."""
    sys.stdout.buffer.write(orjson.dumps(event) + b"\n")
    sys.stdout.buffer.flush()


def stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str]) -> None:
    """The child's side: feeds stdin lines to `queue` from a daemon thread (EOF reads as 'stop')."""
    def run() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, "stop")
    threading.Thread(target=run, name="stdin", daemon=True).start()
