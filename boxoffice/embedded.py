"""The embedded PostgreSQL used when DATABASE_URL is unset (a real PostgreSQL 16, via pgserver)."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

DB_NAME = "boxoffice"


def start_embedded_postgres(data_dir: Path) -> str:
    """Starts (or joins) the private server under data_dir and returns a URL to its database.

    pgserver blocks while it starts, so call this before any event loop runs. The server
    stops when the last process using it exits.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir on import; without XDG_RUNTIME_DIR (containers,
        # CI, ssh) that warns, although the /tmp fallback serves pgserver just as well.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning)
        import pgserver

    pg_dir = data_dir / "postgres"
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pg_dir), cleanup_mode="stop")
    _keep_listing_private(data_dir)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    _RUNNING.append(server)  # referenced for the life of the process: it stops when we exit
    return str(server.get_uri(DB_NAME))


_RUNNING: list[object] = []


def _keep_listing_private(data_dir: Path) -> None:
    """Run as root, pgserver opens every parent of its data dir to everyone (r-x) so that its own
    system user can reach it. That user needs only to pass through the data dir (x), not to list it:
    the secrets beside the database stay the owner's (they are 0600 themselves)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        mode = stat.S_IMODE(data_dir.stat().st_mode)
        data_dir.chmod(mode & ~(stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH))


def resolve_database_url(data_dir: Path) -> str:
    """DATABASE_URL if set, else the embedded database (started now); exported for workers."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    url = start_embedded_postgres(data_dir)
    os.environ["DATABASE_URL"] = url
    print(f"boxoffice: embedded PostgreSQL under {data_dir / 'postgres'}", flush=True)
    return url
