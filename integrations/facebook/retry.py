"""The one place Graph calls are retried, and the throttle gate every call passes.

Retries cover `Transient` (5xx, codes 1/2, timeouts, unreadable answers) and
`RateLimited` only, with exponential backoff and full jitter
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), bounded
both in attempts and in total seconds. A throttle that announces a wait longer than
the policy accepts is raised at once, so the caller can park the job instead of
holding a worker asleep. The task queue's redelivery is never the retry mechanism.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from integrations.facebook.errors import GraphError, RateLimited, Transient

T = TypeVar("T")


class ThrottleGate(Protocol):
    """Shared knowledge of throttled ad accounts (the engine keeps it in the database).

    `wait` is called before every call on an ad account (scope id `act_<digits>`) and
    may sleep, or raise `RateLimited` when the wait is too long to hold a worker;
    `record` is called when Facebook throttles a call on that account.
    """

    def wait(self, scope_id: str) -> None: ...

    def record(self, scope_id: str, retry_after_seconds: float) -> None: ...


class NoThrottleGate:
    """The default: every call goes straight through."""

    def wait(self, scope_id: str) -> None:
        return None

    def record(self, scope_id: str, retry_after_seconds: float) -> None:
        return None


class InMemoryThrottleGate:
    """A gate shared by the threads of one process (e.g. concurrent uploads of one run).

    Holds back every call on a throttled account until its announced time, and raises
    `RateLimited` instead of sleeping when the remaining wait exceeds `max_wait`.
    """

    def __init__(
        self,
        *,
        max_wait: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, scope_id: str) -> None:
        with self._lock:
            remaining = self._until.get(scope_id, 0.0) - self._clock()
        if remaining <= 0:
            return
        if remaining > self.max_wait:
            raise RateLimited(
                f"Ad account {scope_id} is throttled for another {remaining:.0f} s.",
                retry_after=remaining,
            )
        self._sleep(remaining)

    def record(self, scope_id: str, retry_after_seconds: float) -> None:
        with self._lock:
            until = self._clock() + max(retry_after_seconds, 0.0)
            self._until[scope_id] = max(self._until.get(scope_id, 0.0), until)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_total_seconds: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 30.0
    # A throttle announcing a longer wait than this is raised, not slept.
    max_throttle_wait: float = 300.0
    # The wait for a throttle that names none (estimated_time_to_regain_access 0 or
    # absent); None keeps the error's default (errors.DEFAULT_THROTTLE_SECONDS).
    unknown_throttle_wait: float | None = None
    # Injected in tests so that waiting costs nothing and jitter is reproducible.
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def backoff_delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**(attempt-1))]."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        return self.random() * ceiling

    def throttle_wait(self, error: RateLimited) -> float:
        if error.retry_after_known or self.unknown_throttle_wait is None:
            return error.retry_after
        return self.unknown_throttle_wait

    def delay_for(self, error: GraphError, attempt: int) -> float:
        if isinstance(error, RateLimited):
            # Meta's estimate is a floor; a little jitter keeps woken jobs apart.
            return self.throttle_wait(error) + self.random() * self.base_delay
        return self.backoff_delay(attempt)

    def should_retry(self, error: GraphError, *, idempotent: bool) -> bool:
        if not error.retryable:
            return False
        if idempotent or isinstance(error, RateLimited):
            # A throttled request was refused before Facebook acted on it.
            return True
        return isinstance(error, Transient) and not error.request_sent


NO_RETRY = RetryPolicy(max_attempts=1)


def call_with_retries(
    attempt_call: Callable[[], T],
    *,
    policy: RetryPolicy,
    idempotent: bool = True,
    on_throttle: Callable[[RateLimited], None] | None = None,
) -> tuple[T, int]:
    """Run `attempt_call` until it succeeds or the policy gives up; return (result, attempts).

    The error raised at the end carries `attempts`, so a batch record can say how many
    calls it took even when it failed.
    """
    started = policy.clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return attempt_call(), attempt
        except GraphError as error:
            error.attempts = attempt
            if isinstance(error, RateLimited) and on_throttle is not None:
                on_throttle(error)
            if not policy.should_retry(error, idempotent=idempotent) or attempt >= policy.max_attempts:
                raise
            if isinstance(error, RateLimited) and policy.throttle_wait(error) > policy.max_throttle_wait:
                raise
            delay = policy.delay_for(error, attempt)
            if policy.clock() - started + delay > policy.max_total_seconds:
                raise
            policy.sleep(delay)
