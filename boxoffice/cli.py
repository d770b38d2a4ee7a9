"""The `boxoffice` command: serve, migrate, create-user, demo, audit, reconcile."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Sequence

from .config import load_settings
from .embedded import resolve_database_url


def _database_url() -> str:
    return resolve_database_url(load_settings().data_dir)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # uvicorn shuts down gracefully, then raises the signal again. Under the default SIGTERM handler
    # the process would die at once, skipping atexit, and so leave an embedded PostgreSQL running.
    raise SystemExit(128 + signum)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .db import database_warnings
    from .migrate import upgrade_to_head

    if not os.environ.get("BOXOFFICE_PUBLIC_URL"):  # links in tickets and the 3-D Secure page
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        os.environ["BOXOFFICE_PUBLIC_URL"] = f"http://{host}:{args.port}"
    settings = load_settings()
    url = resolve_database_url(settings.data_dir)
    if not args.no_migrate:
        upgrade_to_head(url)
    for warning in asyncio.run(_with_engine(database_warnings, url)):
        print(f"boxoffice: warning: {warning}", file=sys.stderr, flush=True)
    if not settings.redis_url:
        print("boxoffice: no REDIS_URL: in-process pub/sub and waiting room (one process only)", flush=True)
        if args.workers > 1:
            print("boxoffice: --workers > 1 needs REDIS_URL for live seat maps across workers", file=sys.stderr)
    print(f"boxoffice: serving http://{args.host}:{args.port}/graphql", flush=True)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.run("boxoffice.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                loop="uvloop", http="httptools", log_level=args.log_level, proxy_headers=True,
                timeout_graceful_shutdown=5, ws_max_size=1_000_000, ws_per_message_deflate=settings.ws_deflate)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrate import upgrade_to_head

    upgrade_to_head(_database_url())
    print("boxoffice: database is at the newest migration")
    return 0


async def _with_engine(fn, url: str | None = None):  # type: ignore[no-untyped-def]
    from .db import create_engine

    engine = create_engine(url or _database_url(), pool_size=5)
    try:
        return await fn(engine)
    finally:
        await engine.dispose()


def cmd_create_user(args: argparse.Namespace) -> int:
    from .booking.accounts import create_user
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


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import load_demo
    from .migrate import upgrade_to_head

    upgrade_to_head(_database_url())  # a fresh (e.g. embedded) database gets its tables first

    async def run(engine):  # type: ignore[no-untyped-def]
        return await load_demo(engine, stadium_rows=args.stadium_rows)

    print(asyncio.run(_with_engine(run)))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from .booking.audit import audit

    show = None
    if args.show:
        try:
            show = uuid.UUID(args.show)
        except ValueError:
            print("boxoffice: --show takes a show id", file=sys.stderr)
            return 2

    async def run(engine):  # type: ignore[no-untyped-def]
        return await audit(engine, show)

    report = asyncio.run(_with_engine(run))
    if report.clean:
        print("audit: every invariant holds")
        return 0
    for name, rows in report.failures.items():
        print(f"audit FAILED: {name}")
        for row in rows:
            print("  " + json.dumps(row, default=str))
    return 1


def cmd_reconcile(args: argparse.Namespace) -> int:
    from .booking.reconcile import reconcile_payments
    from .payments.provider import payment_context

    async def run(engine):  # type: ignore[no-untyped-def]
        async with payment_context(load_settings(), engine) as ctx:
            return await reconcile_payments(engine, ctx)

    print(asyncio.run(_with_engine(run)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boxoffice", description="Primary ticketing with a GraphQL API.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true")
    serve.add_argument("--log-level", default=os.environ.get("BOXOFFICE_LOG_LEVEL", "info"))
    serve.set_defaults(fn=cmd_serve)
    sub.add_parser("migrate", help="apply all migrations").set_defaults(fn=cmd_migrate)
    user = sub.add_parser("create-user", help="create a user (e.g. the first organizer)")
    user.add_argument("--email", required=True)
    user.add_argument("--password", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", choices=["fan", "organizer", "admin"], default="fan")
    user.set_defaults(fn=cmd_create_user)
    demo = sub.add_parser("demo", help="load demo venues, events and shows")
    demo.add_argument("--stadium-rows", type=int, default=50, help="rows per stadium section (100 seats each)")
    demo.set_defaults(fn=cmd_demo)
    audit = sub.add_parser("audit", help="check the inventory and money invariants")
    audit.add_argument("--show")
    audit.set_defaults(fn=cmd_audit)
    sub.add_parser("reconcile", help="settle payments stuck in a non-final state").set_defaults(fn=cmd_reconcile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
