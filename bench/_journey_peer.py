"""The PostGraphile 5 peer (../shared/peers/postgraphile, see its README) on the hold/release cycle, run
in the same sitting as bench/journey.py: its `run` script (Node >= 22 from npm if needed, npm ci into
~/.cache/boxoffice-peer, database peer_pg recreated, server started, load.py, server stopped), bounded
in time; the figures are parsed from its output lines."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

from _common import BIN, ROOT, log

PEER_DIR = ROOT.parent / "shared" / "peers" / "postgraphile"


def _fields(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+(?:/s)?)=([^\s]+)", line))


def run_peer(seconds: float, clients: int, warmup: float = 2.0, timeout_s: float = 900) -> dict[str, Any]:
    """{ok, holds_per_s, ceiling_per_s, ratio, p50_ms, p99_ms, errors, cpu lines, error} of one peer run."""
    script = PEER_DIR / "run"
    if not script.exists():
        return {"ok": False, "error": f"no peer at {PEER_DIR}"}
    env = {**os.environ, "PY": str(BIN / "python")}
    argv = [str(script), "-d", f"{seconds:g}", "-c", str(clients), "--warmup", f"{warmup:g}"]
    log(f"peer: {' '.join(argv)} (PostGraphile 5; first run installs Node 22 and npm packages)")
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s, cwd=str(PEER_DIR))
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"peer run over {timeout_s:.0f} s"}
    lines = out.stdout.splitlines()
    result: dict[str, Any] = {"ok": out.returncode == 0, "argv": " ".join(argv),
                              "machine": next((ln for ln in lines if ln.startswith("machine:")), "")}
    for ln in lines:
        if ln.startswith("peer="):
            f = _fields(ln)
            result.update(holds_per_s=float(f["holds/s"]), ceiling_per_s=float(f["ceiling/s"]),
                          ratio=float(f["ratio"]), p99_ms=float(f["p99_ms"]))
        elif ln.startswith("graphql:"):
            f = _fields(ln)
            result.update(p50_ms=float(f["p50_ms"]), errors=int(f["errors"]), ok_per_s=float(f["ok/s"]))
        elif ln.startswith("cpu[graphql]"):
            result["cpu_graphql"] = ln
        elif ln.startswith("cpu[ceiling]"):
            result["cpu_ceiling"] = ln
    if "ratio" not in result:
        result["ok"] = False
        result["error"] = (f"exit {out.returncode}: " + (out.stderr or out.stdout)[-800:]).strip()
    return result
