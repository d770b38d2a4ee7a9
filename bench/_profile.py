"""py-spy for the benchmarks: record processes in raw (collapsed-stack) format, then summarise the hot
spots by function and by package."""

from __future__ import annotations

import os
import subprocess

from _common import BIN


class Profiler:
    """py-spy record in raw (collapsed-stack) format for each pid; summarised into hot spots."""

    def __init__(self, pids: list[int], duration_s: int, workdir: str, svg: bool = True) -> None:
        self.procs: list[tuple[int, subprocess.Popen[bytes], str]] = []
        self.error: str | None = None
        exe = BIN / "py-spy"
        if not exe.exists():
            self.error = "py-spy is not installed (pip install py-spy)"
            return
        for pid in pids:
            raw = os.path.join(workdir, f"profile-{pid}.txt")
            p = subprocess.Popen([str(exe), "record", "-p", str(pid), "-d", str(duration_s), "-f", "raw",
                                  "-o", raw, "--nonblocking"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.procs.append((pid, p, raw))

    def finish(self, timeout_s: float = 60) -> list[str]:
        files = []
        for pid, p, raw in self.procs:
            try:
                _, err = p.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate(timeout=5)
                err = b"timeout"
            if p.returncode != 0 or not os.path.exists(raw):
                self.error = f"py-spy failed on {pid}: {err.decode(errors='replace')[-500:]}"
            else:
                files.append(raw)
        return files


def summarise_profile(files: list[str], top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Self time (leaf frame) and inclusive time per function, in % of samples, plus by-package buckets."""
    total = 0
    leaf: dict[str, int] = {}
    incl: dict[str, int] = {}
    bucket: dict[str, int] = {}
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                stack, _, count_s = line.rpartition(" ")
                try:
                    count = int(count_s)
                except ValueError:
                    continue
                frames = stack.split(";")
                total += count
                names = [frame_name(fr) for fr in frames]
                leaf[names[-1]] = leaf.get(names[-1], 0) + count
                for n in set(names):
                    incl[n] = incl.get(n, 0) + count
                b = _bucket(frames)
                bucket[b] = bucket.get(b, 0) + count
    if not total:
        return {"self": [], "inclusive": [], "buckets": []}

    def pct(d: dict[str, int], n: int) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / total) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:n]]
    return {"self": pct(leaf, top), "inclusive": pct(incl, top * 2), "buckets": pct(bucket, 20),
            "samples": [("samples", float(total))]}


def frame_name(frame: str) -> str:
    """The "function (file)" of a py-spy raw frame, the path shortened to the package."""
    # py-spy raw frames look like "function (path/to/file.py:123)"
    fn, _, loc = frame.partition(" (")
    loc = loc.rstrip(")")
    path = loc.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{fn} ({path})"


_BUCKETS = [
    ("boxoffice/booking", "boxoffice domain (booking/)"),
    ("boxoffice/", "boxoffice other (schema, resolvers, app)"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("strawberry/", "strawberry"),
    ("graphql/", "graphql-core"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn"),
    ("jwt/", "PyJWT"),
    ("redis/", "redis-py"),
    ("broadcaster/", "broadcaster"),
    ("orjson", "orjson"),
    ("json/", "stdlib json"),
    ("asyncio/", "asyncio"),
]


def _bucket(frames: list[str]) -> str:
    """Attributes a sample to the innermost frame that belongs to a known package."""
    for fr in reversed(frames):
        for needle, name in _BUCKETS:
            if needle in fr:
                return name
    return "other (interpreter, C, stdlib)"
