"""Child processes of the stack (DynamoDB Local, localstripe): started so they die with us, stopped cleanly."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

LOG = logging.getLogger("devstack.processes")

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: have the kernel send SIGTERM to this child when the process that started it dies."""
    if not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        with contextlib.suppress(Exception):
            ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    """A long-running child whose output goes to a log file (shown when it fails to start)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._temporary_log = log_path is None

    def start(self) -> ChildProcess:
        if self.log_path is None:
            fd, path = tempfile.mkstemp(prefix=f"devstack-{self.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(path)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        LOG.debug("starting %s: %s", self.name, " ".join(self.argv))
        # Started from the thread that lives as long as the stack: PDEATHSIG fires when that thread ends.
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; always reaps the child."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    LOG.warning("%s did not stop in %.0f s: killing it", self.name, timeout)
                    self.process.kill()
                    self.process.wait(timeout)
            code = self.process.returncode
            LOG.debug("%s exited with %s", self.name, code)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._temporary_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        return code


class ManagedProcess:
    """A child process of the stack that is ready once it answers: subclasses say how to `launch` it, where
    it is (`address`) and whether it `answers`; waiting, liveness, logs and stopping are shared."""

    label = "process"
    ready_timeout = 30.0
    log = LOG

    def __init__(self) -> None:
        self._child: ChildProcess | None = None

    @property
    def address(self) -> str:
        raise NotImplementedError

    def launch(self) -> Self:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def wait_ready(self, timeout: float | None = None) -> Self:
        from devstack.ports import wait_until

        if self._child is None:
            raise RuntimeError(f"{self.label} was not launched")
        limit = self.ready_timeout if timeout is None else timeout
        started = time.monotonic()
        if not wait_until(self.answers, limit, 0.1, alive=self._child.alive):
            tail = self._child.log_tail()
            self.stop()
            raise RuntimeError(f"{self.label} did not answer on {self.address} in {limit:.0f} s:\n{tail}")
        self.log.info("%s ready on %s in %.1f s", self.label, self.address, time.monotonic() - started)
        return self

    def start(self, timeout: float | None = None) -> Self:
        return self.launch().wait_ready(timeout)

    def alive(self) -> bool:
        return self._child is not None and self._child.alive()

    def log_tail(self, lines: int = 20) -> str:
        return self._child.log_tail(lines) if self._child is not None else ""

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def stop(self, timeout: float = 10.0) -> None:
        if self._child is not None:
            self._child.stop(timeout)
            self._child = None
            self.log.info("%s stopped", self.label)
