"""The `boxoffice` command as an operator uses it, against real PostgreSQL."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

BOXOFFICE = [sys.executable, "-m", "boxoffice.cli"]


def _run(args, database_url, tmp_path, **extra):
    env = {**os.environ, "DATABASE_URL": database_url, "BOXOFFICE_DATA_DIR": str(tmp_path), **extra}
    return subprocess.run(BOXOFFICE + args, env=env, capture_output=True, text=True, timeout=120)


def test_create_user_and_duplicate(database_url, tmp_path: Path) -> None:
    email = f"boss-{uuid.uuid4().hex[:6]}@example.test"
    ok = _run(["create-user", "--email", email, "--password", "organizer-pw", "--name", "Boss",
               "--role", "organizer"], database_url, tmp_path)
    assert ok.returncode == 0 and "created organizer" in ok.stdout
    dup = _run(["create-user", "--email", email, "--password", "organizer-pw", "--name", "Boss"],
               database_url, tmp_path)
    assert dup.returncode != 0 and "already exists" in dup.stderr and "Traceback" not in dup.stderr
    bad = _run(["create-user", "--email", "nope", "--password", "x", "--name", "B"], database_url, tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_migrate_is_idempotent(database_url, tmp_path: Path) -> None:
    for _ in range(2):
        result = _run(["migrate"], database_url, tmp_path)
        assert result.returncode == 0, result.stderr


async def test_audit_reports_a_broken_invariant(database_url, engine, tmp_path: Path) -> None:
    from booking.fixtures_db import make_show

    show, seats, _ = await make_show(engine, seats=3, ga=2)
    async with engine.begin() as conn:  # a sold seat that no order owns
        await conn.execute(text("UPDATE show_seats SET status = 'S' WHERE show_id = :s AND id = :i"),
                           {"s": show.id, "i": int(seats[0])})
    result = _run(["audit", "--show", str(show.id)], database_url, tmp_path)
    assert result.returncode == 1 and "sold place not owned by a confirmed order" in result.stdout
    assert seats[0] in result.stdout
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE show_seats SET status = 'A' WHERE show_id = :s AND id = :i"),
                           {"s": show.id, "i": int(seats[0])})


def test_audit_clean_then_bad_show_argument(private_database_url, tmp_path: Path) -> None:
    # A database of its own: the shared one holds whatever the suite's other tests left in flight.
    clean = _run(["audit"], private_database_url, tmp_path)
    assert clean.returncode == 0 and "every invariant holds" in clean.stdout, clean.stdout
    bad = _run(["audit", "--show", "not-a-uuid"], private_database_url, tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_each_help_page_describes_its_command_and_shows_its_defaults() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    for command, expected in (("serve", ["fan app at /", "(default: 127.0.0.1)", "(default: 8000)",
                                         "--log-level", "(default: info)"]),
                              ("demo", ["Load a stadium", "--stadium-rows", "(default: 50)"]),
                              ("create-user", ["first organizer", "(default: fan)"]),
                              ("migrate", ["idempotent"]), ("audit", ["no seat is owned twice"]),
                              ("reconcile", ["payment provider"]),
                              ("stripe-sim", ["as its own process", "--webhook-url URL", "--webhook-secret S",
                                              "(default: 12111)", "--latency-ms N", "(default: 0)", "sk_test_",
                                              "STRIPE_API_BASE=http://H:P"])):
        page = subprocess.run([*BOXOFFICE, command, "--help"], env=env, capture_output=True, text=True, timeout=60)
        assert page.returncode == 0 and page.stderr == "", page.stderr
        shown = " ".join(page.stdout.split())
        assert all(part in shown for part in expected), (command, page.stdout)
        assert "(default: None)" not in shown and "(default: False)" not in shown, page.stdout


def test_a_setting_that_is_not_a_number_refuses_to_start_in_one_line() -> None:
    from boxoffice.config import load_settings

    for name, value in (("BOXOFFICE_MAX_IN_FLIGHT", "lots"), ("BOXOFFICE_SHED_WAIT_MS", "-5"),
                        ("BOXOFFICE_BODY_TIMEOUT_S", "nan")):
        with pytest.raises(SystemExit) as refused:
            load_settings({"BOXOFFICE_SECRET": "s", "STRIPE_WEBHOOK_SECRET": "whsec_x", name: value})
        assert name in str(refused.value) and "\n" not in str(refused.value)


def test_settings_that_would_misbehave_refuse_to_start_in_one_line() -> None:
    """Each of these started: "Production" as development (the simulator handing out tickets),
    "false" left introspection on, a pool of 0 had no bound, a deadline of 0 s refused every request."""
    from boxoffice.config import load_settings

    base = {"BOXOFFICE_SECRET": "s", "STRIPE_WEBHOOK_SECRET": "whsec_x"}
    for name, value in (("BOXOFFICE_ENV", "Production"), ("BOXOFFICE_ENV", "prod"),
                        ("BOXOFFICE_STRIPE_SIM_FAULTS", "maybe"), ("BOXOFFICE_INTROSPECTION", "disabled"),
                        ("BOXOFFICE_DB_POOL_SIZE", "0"), ("BOXOFFICE_BODY_TIMEOUT_S", "0"),
                        ("BOXOFFICE_BODY_TIMEOUT_S", "inf"), ("BOXOFFICE_TOKEN_TTL_S", "0"),
                        ("BOXOFFICE_HOLD_SWEEP_INTERVAL_S", "0")):
        with pytest.raises(SystemExit) as refused:
            load_settings({**base, name: value})
        assert name in str(refused.value) and "\n" not in str(refused.value), (name, value)
    assert not load_settings({**base, "BOXOFFICE_INTROSPECTION": "false"}).introspection
    assert not load_settings({**base, "BOXOFFICE_GRAPHIQL": "Off"}).graphiql_enabled
    assert load_settings({**base, "BOXOFFICE_STRIPE_SIM_FAULTS": "true"}).stripe_sim_faults
    assert load_settings({**base, "BOXOFFICE_MAX_IN_FLIGHT": "0"}).max_in_flight == 0  # 0: never shed


def test_serve_refuses_what_it_cannot_run_before_touching_anything(tmp_path: Path) -> None:
    env = {**os.environ, "BOXOFFICE_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    env.pop("REDIS_URL", None)
    # Each worker would keep its own waiting room and rate limits: twice the attempts got through.
    workers = subprocess.run([*BOXOFFICE, "serve", "--workers", "2"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert workers.returncode == 2 and "REDIS_URL" in workers.stderr and "Traceback" not in workers.stderr
    # A guessable secret signs every token, admission token and barcode.
    weak = subprocess.run([*BOXOFFICE, "serve"], env={**env, "BOXOFFICE_ENV": "production", "BOXOFFICE_SECRET": "a",
                                                      "STRIPE_API_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
                          capture_output=True, text=True, timeout=60)
    assert weak.returncode == 2 and "BOXOFFICE_SECRET" in weak.stderr and "Traceback" not in weak.stderr
    for args, extra in ((["serve", "--port", "99999"], {}), (["serve", "--port", "0"], {}),
                        (["serve", "--workers", "0"], {}), (["demo", "--stadium-rows", "0"], {}),
                        (["serve"], {"BOXOFFICE_LOG_LEVEL": "verbose"}),
                        (["stripe-sim", "--port", "70000", "--webhook-url", "http://x/", "--webhook-secret", "s"], {})):
        refused = subprocess.run([*BOXOFFICE, *args], env={**env, **extra}, capture_output=True, text=True,
                                 timeout=60)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, (args, refused.stderr)


def test_auditing_a_show_that_does_not_exist_says_so(private_database_url, tmp_path: Path) -> None:
    """It said every invariant holds (nothing was checked)."""
    missing = _run(["audit", "--show", str(uuid.uuid4())], private_database_url, tmp_path)
    assert missing.returncode == 2 and "no show" in missing.stderr, missing.stdout + missing.stderr
    empty = _run(["audit", "--show", ""], private_database_url, tmp_path)  # audited every show
    assert empty.returncode == 2


def test_serve_without_migrating_refuses_a_database_behind(tmp_path: Path) -> None:
    """On an empty database it served: /healthz said ok, every query answered an error."""
    import asyncio

    from conftest import ADMIN_URL, _admin

    name = f"boxoffice_test_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        served = subprocess.run([*BOXOFFICE, "serve", "--no-migrate", "--port", "1"],
                                env={**os.environ, "DATABASE_URL": url, "BOXOFFICE_DATA_DIR": str(tmp_path)},
                                capture_output=True, text=True, timeout=120)
        assert served.returncode == 2 and "boxoffice migrate" in served.stderr, served.stderr
        assert "Traceback" not in served.stderr
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_database_that_cannot_be_used_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    for url, said in (("mysql://x@h/db", "not a PostgreSQL URL"), ("garbage", "not a PostgreSQL URL"),
                      ("postgresql://postgres@127.0.0.1:1/x", "could not be used"),
                      (f"postgresql://postgres@127.0.0.1:5432/no_such_{uuid.uuid4().hex[:8]}", "does not exist"),
                      ("postgresql://postgres@127.0.0.1:5432/postgres", "run `boxoffice migrate`")):
        audit = _run(["audit"], url, tmp_path)
        assert audit.returncode != 0 and said in audit.stderr and "Traceback" not in audit.stderr, (url, audit.stderr)
