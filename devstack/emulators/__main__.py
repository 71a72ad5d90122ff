"""`python -m devstack.emulators --port N`: every provider emulator on 127.0.0.1:N, each under `/<system>`."""

from __future__ import annotations

import argparse
import logging

from devstack.emulators.base import EmulatorHTTPServer, all_emulators


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.emulators", description=__doc__)
    parser.add_argument("--port", type=int, default=8430)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    emulators = all_emulators()
    server = EmulatorHTTPServer(args.port, emulators, host=args.host)
    logging.getLogger("devstack.emulators").info("serving %s on %s:%d", sorted(emulators), args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
