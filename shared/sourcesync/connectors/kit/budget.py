"""The request budget a connector draws from before every request: the interface (`RequestBudget`) and
the in-process token bucket used when nothing is shared. The bucket that every worker of a source shares
lives in `store/request_budget.py` (a DynamoDB item); the pipeline passes it in, so connectors never write.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: Floating-point slack when comparing token counts.
TOKEN_EPSILON = 1e-9


class RequestBudget(ABC):
    """A token bucket shared by the workers of one source: at most `burst + rate * t` requests in any
    `t` seconds."""

    rate: float
    burst: float

    @abstractmethod
    def acquire(self, n: int = 1) -> float:
        """Take `n` tokens if they are there and return 0.0; otherwise take nothing and return how many
        seconds to wait before asking again."""

    def take(self, n: int = 1, *, sleep: Sleep = time.sleep) -> float:
        """Block until `n` tokens are taken; return the seconds waited."""
        waited = 0.0
        while True:
            wait = self.acquire(n)
            if wait <= 0:
                return waited
            sleep(wait)
            waited += wait


def check_bucket(rate: float, burst: float | None) -> float:
    if rate <= 0:
        raise ValueError("rate must be positive")
    capacity = max(1.0, rate) if burst is None else burst
    if capacity < 1:
        raise ValueError("burst must be at least 1")
    return capacity


class InProcessTokenBucket(RequestBudget):
    """A thread-safe token bucket for one process (tests, a single worker, the CLI)."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = check_bucket(rate, burst)
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self, n: int = 1) -> float:
        if n > self.burst:
            raise ValueError(f"cannot take {n} tokens from a bucket of {self.burst}")
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._updated = max(now, self._updated)
            if self._tokens + TOKEN_EPSILON >= n:
                self._tokens = max(0.0, self._tokens - n)
                return 0.0
            return (n - self._tokens) / self.rate
