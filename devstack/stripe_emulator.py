"""The Stripe emulator: localstripe (PyPI localstack-localstripe, GPL-3.0) in its own process.

`python -m devstack.stripe_emulator --port N` is a launcher only: it imports localstripe's server module,
turns off its store's pickling after every write (very slow, and it writes /tmp/localstripe.pickle), never
loads an old pickle (every start is from scratch) and serves localstripe's aiohttp `app` on 127.0.0.1 only
(localstripe's own `start()` listens on every interface). No localstripe code is copied here.

`StripeEmulator` starts that launcher as a child process of the stack and waits until it answers.
"""

from __future__ import annotations

import argparse
import logging
import sys

from devstack.ports import ensure_free, free_port, http_answers
from devstack.processes import ChildProcess, ManagedProcess

LOG = logging.getLogger("devstack.stripe")

TEST_SECRET_KEY = "sk_test_devstack"  # localstripe accepts any sk_test_ key


class StripeEmulator(ManagedProcess):
    label = "the Stripe emulator"
    ready_timeout = 30.0
    log = LOG

    def __init__(self, port: int | None = None) -> None:
        super().__init__()
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return self.url

    def launch(self) -> StripeEmulator:
        ensure_free(self.port, "Stripe emulator")
        argv = [sys.executable, "-m", "devstack.stripe_emulator", "--port", str(self.port)]
        from devstack import REPO_ROOT

        self._child = ChildProcess("localstripe", argv, cwd=REPO_ROOT).start()
        return self

    def answers(self) -> bool:
        return http_answers(f"{self.url}/v1/customers?limit=1", {"Authorization": f"Bearer {TEST_SECRET_KEY}"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.stripe_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    from aiohttp import web
    from localstripe import server
    from localstripe.resources import Store

    def no_dump(self: Store) -> None:
        """localstripe pickles its whole store after every write; the local stack keeps it in memory only."""

    Store.dump_to_disk = no_dump
    web.run_app(server.app, host=args.host, port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
