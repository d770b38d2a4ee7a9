"""The `boxoffice` command: serve, migrate, create-user, set-role, set-password, demo, audit, reconcile,
stripe-sim."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Sequence

from .config import load_settings, production_refusal
from .embedded import resolve_database_url


def _database_url() -> str:
    return resolve_database_url(load_settings().data_dir)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # uvicorn shuts down gracefully, then raises the signal again. Under the default SIGTERM handler
    # the process would die at once, skipping atexit, and so leave an embedded PostgreSQL running.
    raise SystemExit(128 + signum)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .http_body import MAX_BODY_BYTES
    from .migrate import upgrade_to_head
    from .payments import mode as payment_mode

    if not os.environ.get("BOXOFFICE_PUBLIC_URL"):  # links in tickets and the 3-D Secure page
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        os.environ["BOXOFFICE_PUBLIC_URL"] = f"http://{host}:{args.port}"
    settings = load_settings()
    refusal = payment_mode.refusal(settings) or production_refusal(settings)
    if not refusal and args.workers > 1 and not settings.redis_url:
        # Each worker would keep its own waiting room, rate limits and live seat maps.
        refusal = "boxoffice: --workers > 1 needs REDIS_URL (the waiting room, rate limits and live maps are shared there)"
    if refusal:  # before anything starts: no database, no migration, no socket
        print(refusal, file=sys.stderr, flush=True)
        return 2
    payment_warning = payment_mode.warning(settings)
    if payment_warning:
        print(payment_warning, file=sys.stderr, flush=True)
    url = resolve_database_url(settings.data_dir)
    if not args.no_migrate:
        upgrade_to_head(url)
    behind, warnings = asyncio.run(_with_engine(_start_checks, url))
    if behind:
        print(f"boxoffice: {behind}", file=sys.stderr, flush=True)
        return 2
    for warning in warnings:
        print(f"boxoffice: warning: {warning}", file=sys.stderr, flush=True)
    if not settings.redis_url:
        print("boxoffice: no REDIS_URL: in-process pub/sub and waiting room (one process only)", flush=True)
    print(f"boxoffice: serving the fan app at http://{args.host}:{args.port}/ and the API at "
          f"http://{args.host}:{args.port}/graphql (GraphiQL in a browser)", flush=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.run("boxoffice.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                loop="uvloop", log_level=args.log_level,
                # httptools, with the wait for a request's headers bounded as uvicorn bounds the wait
                # between requests: BOXOFFICE_BODY_TIMEOUT_S for both (and for the body, in the app).
                http="boxoffice.http_protocol:HeaderDeadlineProtocol",
                timeout_keep_alive=settings.body_timeout_s,  # type: ignore[arg-type]  # a float works
                # Pings find dead peers of idle WebSockets; connection_init has its own deadline (app.py);
                # a client that stops reading has BOXOFFICE_BODY_TIMEOUT_S to read on (ws_protocol.py).
                ws="boxoffice.ws_protocol:WriteDeadlineWSProtocol",
                ws_ping_interval=20.0, ws_ping_timeout=20.0,
                # Off, so FORWARDED_ALLOW_IPS means nothing: X-Forwarded-For is read in one place,
                # client_address.py, and only from BOXOFFICE_TRUSTED_PROXIES.
                proxy_headers=False,
                timeout_graceful_shutdown=5, ws_max_size=MAX_BODY_BYTES, ws_per_message_deflate=settings.ws_deflate)
    return 0


async def _start_checks(engine) -> tuple[str | None, list[str]]:  # type: ignore[no-untyped-def]
    """On one engine: why the database cannot serve (behind its migrations), and what to warn of."""
    from .booking.pg_calls import driver
    from .db import database_warnings
    from .migrate import schema_behind

    async with driver(engine) as db:
        behind = await schema_behind(db)
    return behind, ([] if behind else await database_warnings(engine))


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrate import upgrade_to_head

    upgrade_to_head(_database_url())
    print("boxoffice: database is at the newest migration")
    return 0


async def _with_engine(fn, url: str | None = None):  # type: ignore[no-untyped-def]
    from .db import create_engine

    engine = create_engine(url or _database_url(), pool_size=5, pooled=load_settings().database_pooled)
    try:
        return await fn(engine)
    finally:
        await engine.dispose()


def cmd_create_user(args: argparse.Namespace) -> int:
    from .booking.accounts.sign_in import create_user
    from .booking.errors import BookingError

    async def run(engine):  # type: ignore[no-untyped-def]
        return await create_user(engine, email=args.email, password=args.password, name=args.name, role=args.role)

    try:
        user = asyncio.run(_with_engine(run))
    except BookingError as err:
        print(f"boxoffice: {err.message}", file=sys.stderr)
        return 1
    print(f"created {user.role} {user.email} ({user.id})")
    return 0


def _change_user(args: argparse.Namespace, change) -> int:  # type: ignore[no-untyped-def]
    """A change that ends the user's sessions, announced to running servers (over REDIS_URL)."""
    from .booking.errors import BookingError
    from .booking.accounts.sessions import announce_ended

    async def run(engine):  # type: ignore[no-untyped-def]
        user = await change(engine)
        return user, await announce_ended(load_settings().redis_url, user.id, user.token_version)

    try:
        user, announced = asyncio.run(_with_engine(run))
    except BookingError as err:
        print(f"boxoffice: {err.message}", file=sys.stderr)
        return 1
    when = "now" if announced else "within BOXOFFICE_SESSION_CACHE_S (no REDIS_URL to tell the servers at once)"
    print(f"{user.email} is {user.role}; tokens issued before stop working {when}")
    return 0


def cmd_set_role(args: argparse.Namespace) -> int:
    from .booking.accounts.sign_in import change_role

    return _change_user(args, lambda engine: change_role(engine, email=args.email, role=args.role))


def cmd_set_password(args: argparse.Namespace) -> int:
    from .booking.accounts.sign_in import change_password

    return _change_user(args, lambda engine: change_password(engine, email=args.email, password=args.password))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import load_demo
    from .migrate import upgrade_to_head

    upgrade_to_head(_database_url())  # a fresh (e.g. embedded) database gets its tables first

    async def run(engine):  # type: ignore[no-untyped-def]
        return await load_demo(engine, stadium_rows=args.stadium_rows)

    print(asyncio.run(_with_engine(run)))
    return 0


def _whole(low: int, high: int | None = None):  # type: ignore[no-untyped-def]
    """An argparse type: a whole number from low to high."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not {low} to {high}" if high is not None
                                             else f"{value} is less than {low}")
        return value
    return parse


_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _log_level(text: str) -> str:
    # A type, not choices: argparse checks a default (BOXOFFICE_LOG_LEVEL) with its type only.
    if text.lower() not in _LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is none of {', '.join(_LOG_LEVELS)}")
    return text.lower()


def cmd_audit(args: argparse.Namespace) -> int:
    from .booking.audit import audit

    show = None
    if args.show is not None:
        try:
            show = uuid.UUID(args.show)
        except ValueError:
            print("boxoffice: --show takes a show id", file=sys.stderr)
            return 2

    async def run(engine):  # type: ignore[no-untyped-def]
        return await audit(engine, show)

    report = asyncio.run(_with_engine(run))
    if report.clean and show is not None and not asyncio.run(_with_engine(lambda engine: _show_exists(engine, show))):
        print(f"boxoffice: no show has the id {show}", file=sys.stderr)  # nothing checked is no clean bill
        return 2
    if report.clean:
        print("audit: every invariant holds")
        return 0
    for name, rows in report.failures.items():
        print(f"audit FAILED: {name}")
        for row in rows:
            print("  " + json.dumps(row, default=str))
    return 1


async def _show_exists(engine, show_id: uuid.UUID) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT 1 FROM shows WHERE id = :s"), {"s": show_id})).first() is not None


def cmd_reconcile(args: argparse.Namespace) -> int:
    from .booking.checkout.reconcile import reconcile_payments
    from .payments.provider import payment_context

    async def run(engine):  # type: ignore[no-untyped-def]
        async with payment_context(load_settings(), engine) as ctx:
            return await reconcile_payments(engine, ctx)

    report, settled = asyncio.run(_with_engine(run))
    print(report)
    return 0 if settled else 1  # something is still unsettled: a cron job should say so


def cmd_stripe_sim(args: argparse.Namespace) -> int:
    import uvicorn

    from .payments.simulator.process import KeyRefused, StandaloneSimulator, chosen_api_key

    settings = load_settings()
    if settings.production:
        print("boxoffice: stripe-sim is a test-mode simulator (no money moves): not with BOXOFFICE_ENV=production",
              file=sys.stderr)
        return 2
    offered = args.api_key or os.environ.get("STRIPE_API_KEY")
    try:
        key = chosen_api_key(offered, settings.secret)
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        simulator = StandaloneSimulator(
            database_url=resolve_database_url(settings.data_dir), public_url=f"http://{host}:{args.port}",
            api_key=key, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret,
            latency_ms=args.latency_ms, test_mode=settings.stripe_sim_faults)
    except (KeyRefused, ValueError) as err:
        print(f"boxoffice: {err}", file=sys.stderr)
        return 2
    # The derived key is printed whole: the operator hands it to `serve`. A given key is theirs already.
    shown = key if not offered else key[:12] + "…"
    print(f"boxoffice: Stripe test-mode simulator at {simulator.public_url} (no money moves), webhooks to "
          f"{args.webhook_url}{f', {args.latency_ms} ms added to every API call' if args.latency_ms else ''}; "
          f"run serve with STRIPE_API_KEY={shown} STRIPE_API_BASE={simulator.public_url} and "
          f"STRIPE_WEBHOOK_SECRET set to --webhook-secret", flush=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.run(simulator.create_app(), host=args.host, port=args.port, loop="uvloop", log_level=args.log_level,
                lifespan="on", proxy_headers=False, timeout_graceful_shutdown=5)
    return 0


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default; not on flags (always off) nor where there is none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boxoffice", description="Primary ticketing with a GraphQL API.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        # Each --help page says what the command does and shows every default.
        return sub.add_parser(name, help=summary, description=description,
                              formatter_class=_HelpWithDefaults)

    serve = command("serve", "run the API", "Serve the fan app at / and the GraphQL API at /graphql (GraphiQL in a "
                    "browser). With no DATABASE_URL an embedded PostgreSQL is started first; pending migrations "
                    "are applied unless --no-migrate.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=_whole(1, 65535), default=8000, help="TCP port to listen on")
    serve.add_argument("--workers", type=_whole(1), default=1, help="server processes (more than 1 needs REDIS_URL)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations at start")
    serve.add_argument("--log-level", default=os.environ.get("BOXOFFICE_LOG_LEVEL", "info"), type=_log_level,
                       help=f"the server's log level: {', '.join(_LOG_LEVELS)} (BOXOFFICE_LOG_LEVEL sets the default)")
    serve.set_defaults(fn=cmd_serve)
    command("migrate", "apply all migrations",
            "Apply every pending migration to DATABASE_URL (or the embedded database); idempotent."
            ).set_defaults(fn=cmd_migrate)
    user = command("create-user", "create a user (e.g. the first organizer)",
                   "Create a user, e.g. the first organizer; fails with a message if the email is taken.")
    user.add_argument("--email", required=True, help="the user's log-in email")
    user.add_argument("--password", required=True, help="the user's password")
    user.add_argument("--name", required=True, help="the name shown to the user")
    user.add_argument("--role", choices=["fan", "organizer", "admin"], default="fan", help="what the user may do")
    user.set_defaults(fn=cmd_create_user)
    set_role = command("set-role", "change a user's role",
                       "Change a user's role; every token issued to them before stops working.")
    set_role.add_argument("--email", required=True, help="the user's log-in email")
    set_role.add_argument("--role", required=True, choices=["fan", "organizer", "admin"], help="the new role")
    set_role.set_defaults(fn=cmd_set_role)
    set_password = command("set-password", "set a user's password",
                           "Set a new password for a user; every token issued to them before stops working.")
    set_password.add_argument("--email", required=True, help="the user's log-in email")
    set_password.add_argument("--password", required=True, help="the new password")
    set_password.set_defaults(fn=cmd_set_password)
    demo = command("demo", "load demo venues, events and shows",
                   "Load a stadium (10 reserved sections and a general-admission field), a theatre and a club, "
                   "with events and shows published and on sale, and the demo fan and organizer accounts.")
    demo.add_argument("--stadium-rows", type=_whole(1, 100), default=50,
                      help="rows per stadium section (100 seats each), 1 to 100")
    demo.set_defaults(fn=cmd_demo)
    audit = command("audit", "check the inventory and money invariants",
                    "Check that no seat is owned twice, general admission is never over capacity, every sold "
                    "seat is in exactly one confirmed order and every confirmed order is paid; exits non-zero "
                    "with the offending rows otherwise.")
    audit.add_argument("--show", metavar="ID", help="check only this show (all shows when omitted)")
    audit.set_defaults(fn=cmd_audit)
    command("reconcile", "settle payments stuck in a non-final state",
            "Ask the payment provider about every payment stuck in a non-final state and settle it; safe to "
            "run at any time, repeatedly.").set_defaults(fn=cmd_reconcile)
    sim = command("stripe-sim", "run the Stripe test-mode simulator as its own process",
                  "Serve the Stripe test-mode simulator (the one `serve` mounts at /stripe-sim without "
                  "STRIPE_API_KEY) as its own process, state in DATABASE_URL's stripe_sim schema (with no "
                  "DATABASE_URL: the embedded database, as serve). It answers one API key: --api-key, else "
                  "STRIPE_API_KEY, else the key derived from BOXOFFICE_SECRET (printed at start); give serve "
                  "that STRIPE_API_KEY, STRIPE_API_BASE=http://H:P and STRIPE_WEBHOOK_SECRET=S. "
                  "BOXOFFICE_STRIPE_SIM_FAULTS=1 adds its test controls; refused with BOXOFFICE_ENV=production.")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sim.add_argument("--port", type=_whole(1, 65535), default=12111, help="TCP port to listen on")
    sim.add_argument("--webhook-url", required=True, metavar="URL",
                     help="where events are delivered, e.g. http://127.0.0.1:8000/webhooks/stripe")
    sim.add_argument("--webhook-secret", required=True, metavar="S", help="signs each delivery's Stripe-Signature")
    sim.add_argument("--latency-ms", type=int, default=0, metavar="N",
                     help="added to every API call, like a remote payment provider's round trip")
    sim.add_argument("--api-key", metavar="KEY", help="the one API key answered (sk_test_…)")
    sim.add_argument("--log-level", default=os.environ.get("BOXOFFICE_LOG_LEVEL", "info"), type=_log_level,
                     help=f"the log level: {', '.join(_LOG_LEVELS)}")
    sim.set_defaults(fn=cmd_stripe_sim)
    return parser


def _unreachable(err: BaseException) -> str | None:
    """What to tell an operator whose database or Redis cannot be used at all, or None (a bug: its
    traceback stays)."""
    import asyncpg
    import redis.exceptions

    from .db import database_unavailable

    seen: BaseException | None = err
    for _ in range(4):  # SQLAlchemy's wrapper, then the driver's own
        if seen is None:
            break
        if isinstance(seen, asyncpg.UndefinedTableError):
            return f"the database has no boxoffice tables yet ({seen}): run `boxoffice migrate`"
        if isinstance(seen, redis.exceptions.ConnectionError):
            return f"REDIS_URL could not be reached: {seen}"
        if isinstance(seen, (OSError, asyncpg.InvalidCatalogNameError, asyncpg.InvalidPasswordError,
                             asyncpg.InvalidAuthorizationSpecificationError)) or database_unavailable(seen):
            return f"the database (DATABASE_URL, or the embedded one) could not be used: {seen}"
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except Exception as err:
        problem = _unreachable(err)
        if problem is None:
            raise
        print(f"boxoffice: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
