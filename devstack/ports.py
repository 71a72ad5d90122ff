"""Ports: pick free ones, fail fast on taken ones, wait for a server to answer."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable


class PortInUseError(RuntimeError):
    """A port the stack needs is taken by another process."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def port_is_free(port: int) -> bool:
    """True if nothing listens on the port (on any interface: DynamoDB Local binds 0.0.0.0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def ensure_free(port: int, what: str) -> None:
    if not port_is_free(port):
        raise PortInUseError(
            f"port {port} ({what}) is already in use: stop whatever listens there (is a stack already up? "
            "`make down`), or choose another port"
        )


def wait_until(
    check: Callable[[], bool], timeout: float, interval: float = 0.1, alive: Callable[[], bool] | None = None
) -> bool:
    """Poll `check` until it returns True; False on timeout or as soon as `alive()` says False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return True
        if alive is not None and not alive():
            return False
        time.sleep(interval)
    return False


def http_answers(url: str, headers: dict[str, str] | None = None, timeout: float = 2.0) -> bool:
    """True if an HTTP server answers at `url` (any status code counts)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def wait_port_free(port: int, timeout: float) -> bool:
    return wait_until(lambda: port_is_free(port), timeout)
