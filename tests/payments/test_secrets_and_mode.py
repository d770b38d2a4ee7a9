"""The generated secrets (webhook, server, simulator key) and what decides simulated payments."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from boxoffice.config import _persistent_secret, load_settings
from boxoffice.payments import mode
from boxoffice.payments.simulator import simulator_api_key


def _mode(path: Path | int) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_secret_file_is_private_from_the_moment_it_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mode the file ever has is 0600: seen right after each open that creates it and before
    any chmod (a file written first and restricted afterwards shows its wider mode there)."""
    seen: list[tuple[str, int]] = []
    real_open, real_chmod = os.open, os.chmod

    def spy_open(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, mode, *args, **kwargs)
        if flags & os.O_CREAT:
            seen.append(("open", _mode(fd)))
        return fd

    def spy_chmod(path: Any, mode: int, *args: Any, **kwargs: Any) -> None:
        if Path(path).is_file():
            seen.append(("chmod", _mode(path)))
        real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "chmod", spy_chmod)
    old_umask = os.umask(0)  # the most permissive umask: only the code's own mode protects the file
    try:
        value = _persistent_secret(tmp_path / "data", "secret")
    finally:
        os.umask(old_umask)
    assert seen and all(m == 0o600 for _, m in seen), seen
    assert _mode(tmp_path / "data" / "secret") == 0o600
    assert _mode(tmp_path / "data") == 0o700
    assert (tmp_path / "data" / "secret").read_text() == value
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret"]  # no temporary file left
    assert _persistent_secret(tmp_path / "data", "secret") == value  # generated once


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    code = ("import sys, pathlib; from boxoffice.config import _persistent_secret; "
            "print(_persistent_secret(pathlib.Path(sys.argv[1]), 'secret'))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "d")], stdout=subprocess.PIPE, text=True)
             for _ in range(8)]
    values = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(values) == 1 and values != {""}
    assert (tmp_path / "d" / "secret").read_text() in values


def test_test_controls_are_never_on_in_production(tmp_path: Path) -> None:
    env = {"BOXOFFICE_DATA_DIR": str(tmp_path), "BOXOFFICE_SECRET": "s", "BOXOFFICE_STRIPE_SIM_FAULTS": "1"}
    assert load_settings(env).stripe_sim_faults
    assert not load_settings({**env, "BOXOFFICE_ENV": "production"}).stripe_sim_faults
    assert not load_settings({**env, "BOXOFFICE_STRIPE_SIM_FAULTS": "0"}).stripe_sim_faults


def test_production_needs_a_stripe_key_and_development_is_told(tmp_path: Path) -> None:
    env = {"BOXOFFICE_DATA_DIR": str(tmp_path), "BOXOFFICE_SECRET": "s"}
    assert mode.refusal(load_settings({**env, "BOXOFFICE_ENV": "production"})) == mode.NO_STRIPE_IN_PRODUCTION
    live = load_settings({**env, "BOXOFFICE_ENV": "production", "STRIPE_API_KEY": "sk_live_x",
                          "STRIPE_WEBHOOK_SECRET": "whsec_x"})
    assert mode.refusal(live) is None and mode.warning(live) is None
    assert mode.refusal(load_settings(env)) is None and mode.warning(load_settings(env)) == mode.SIMULATED
    # A real key without the webhooks' signing secret: every webhook would be refused as unsigned.
    unsigned = {**env, "STRIPE_API_KEY": "sk_live_x"}
    assert mode.refusal(load_settings({**unsigned, "BOXOFFICE_ENV": "production"})) == mode.NO_WEBHOOK_SECRET
    assert mode.refusal(load_settings(unsigned)) is None
    assert mode.warning(load_settings(unsigned)) == f"boxoffice: warning: {mode.UNSIGNED_WEBHOOKS}"


def test_the_simulator_key_is_the_deployments_own() -> None:
    key = simulator_api_key("one secret")
    assert key.startswith("sk_test_") and key == simulator_api_key("one secret")
    assert key != simulator_api_key("another secret") and "one secret" not in key
    with pytest.raises(ValueError):
        simulator_api_key("")
