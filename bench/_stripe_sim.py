"""`boxoffice stripe-sim` as its own process for the benches: Stripe is another company's server, so its
CPU must not count as the API's. Own process group (bench/_meter.py reports its CPU apart), state in the
bench database's stripe_sim schema, webhooks to the server under test.

    server = Server(env, workers)                      # _server.py: its port is known before it starts
    sim = StripeSimProcess(db_url, secret, f"http://127.0.0.1:{server.port}/webhooks/stripe",
                           "whsec_bench_sim", latency_ms=300)
    sim.start()
    server.env.update(sim.env_for_server())            # STRIPE_API_KEY / STRIPE_API_BASE / STRIPE_WEBHOOK_SECRET
    server.start()
    ... meter sim.pids() beside server.pids() ...
    server.stop(); sim.stop()
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from _common import BIN, log
from _server import GroupProcess, free_port


class StripeSimProcess(GroupProcess):
    what = "stripe-sim"
    poll_s = 0.1

    def __init__(self, db_url: str, secret: str, webhook_url: str, webhook_secret: str, latency_ms: int = 0,
                 *, log_path: Path | None = None, log_level: str = "warning") -> None:
        self.db_url = db_url
        self.secret = secret
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.latency_ms = latency_ms
        self.log_level = log_level
        from boxoffice.payments.simulator.keys import simulator_api_key
        self.port = free_port()
        self.api_key = simulator_api_key(secret)  # what the server is given; the process is told it too
        self._data_dir = tempfile.mkdtemp(prefix="bench-stripe-sim-")
        self.log_path = log_path or Path(self._data_dir) / "stripe-sim.log"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [str(BIN / "boxoffice"), "stripe-sim", "--port", str(self.port), "--webhook-url", self.webhook_url,
                "--webhook-secret", self.webhook_secret, "--latency-ms", str(self.latency_ms),
                "--api-key", self.api_key, "--log-level", self.log_level]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_URL", "REDIS_URL", "BOXOFFICE_", "STRIPE_"))}
        env.update(DATABASE_URL=self.db_url, BOXOFFICE_SECRET=self.secret, BOXOFFICE_DATA_DIR=self._data_dir)
        return env

    def env_for_server(self) -> dict[str, str]:
        """What `boxoffice serve` needs to use this process as it would use Stripe (no /stripe-sim mount)."""
        return {"STRIPE_API_KEY": self.api_key, "STRIPE_API_BASE": self.url,
                "STRIPE_WEBHOOK_SECRET": self.webhook_secret}

    def spawn(self) -> tuple[dict[str, str], str]:
        return self.env(), self._data_dir

    def start(self, timeout_s: float = 30) -> None:
        super().start(timeout_s)
        log(f"stripe-sim on {self.url}, {self.latency_ms} ms added latency")
