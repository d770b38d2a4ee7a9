"""The README's run path on embedded defaults: no DATABASE_URL, no REDIS_URL, no Stripe key."""

import os
import subprocess
import sys
import time

import httpx

from live_support import free_port


def test_demo_then_serve_on_the_embedded_database(tmp_path) -> None:
    # No XDG_RUNTIME_DIR either, as in containers and CI: the embedded database must not warn about it.
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "STRIPE_API_KEY", "XDG_RUNTIME_DIR")}
    env["BOXOFFICE_DATA_DIR"] = str(tmp_path / "data")
    cli = [sys.executable, "-m", "boxoffice.cli"]
    demo = subprocess.run([*cli, "demo"], env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "demo: loaded" in demo.stdout and "embedded PostgreSQL" in demo.stdout
    assert "Warning" not in demo.stderr, demo.stderr
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        page = httpx.get(f"http://127.0.0.1:{port}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        events = httpx.post(f"http://127.0.0.1:{port}/graphql",
                            json={"query": "{ events { edges { node { name shows { availability { codes } } } } } }"})
        names = [e["node"]["name"] for e in events.json()["data"]["events"]["edges"]]
        assert "Night Owls: Stadium Tour" in names
        stadium = next(e for e in events.json()["data"]["events"]["edges"]
                       if e["node"]["name"] == "Night Owls: Stadium Tour")
        assert len(stadium["node"]["shows"][0]["availability"]["codes"]) == 50_000
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "embedded PostgreSQL" in output and "in-process pub/sub" in output
    assert f"the fan app at http://127.0.0.1:{port}/ and the API at http://127.0.0.1:{port}/graphql" in output
    assert "Warning" not in output, output[-2000:]
    assert "autovacuum off" not in output  # the embedded database keeps PostgreSQL's defaults
    assert server.returncode in (0, 143), output[-2000:]  # 143: stopped by the SIGTERM, cleanly
    # A server stopped with SIGTERM (systemd, docker stop) stops its embedded PostgreSQL too.
    postmaster = tmp_path / "data" / "postgres" / "postmaster.pid"
    deadline = time.monotonic() + 15
    while postmaster.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not postmaster.exists(), "the embedded PostgreSQL outlived the server"
