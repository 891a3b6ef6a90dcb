"""Meta's throttling, shared by every job on an ad account, through the database.

When Facebook throttles one call, every job on that ad account waits, not only the
one that met it: the wait is written to `AdAccountThrottle`, and every run reads it
before sending. Upload threads never touch the database: they use the in-memory gate,
which the run's own thread loads from and flushes to the table between batches.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from django.db.models.functions import Greatest
from django.utils import timezone

from integrations.facebook.retry import InMemoryThrottleGate
from syncs.models import AdAccountThrottle


class SharedThrottleGate(InMemoryThrottleGate):
    def __init__(self, *, max_wait: float = 300.0, **kwargs) -> None:
        super().__init__(max_wait=max_wait, **kwargs)
        self._to_flush: dict[str, float] = {}
        self._flush_lock = threading.Lock()

    def record(self, scope_id: str, retry_after_seconds: float) -> None:
        super().record(scope_id, retry_after_seconds)
        with self._flush_lock:
            wall_until = time.time() + max(retry_after_seconds, 0.0)
            self._to_flush[scope_id] = max(self._to_flush.get(scope_id, 0.0), wall_until)

    def load(self, scope_id: str) -> None:
        """Take in another job's (or worker's) throttle of this ad account."""
        row = AdAccountThrottle.objects.filter(ad_account_id=scope_id).values_list("blocked_until", flat=True).first()
        if row is None:
            return
        remaining = (row - timezone.now()).total_seconds()
        if remaining > 0:
            super().record(scope_id, remaining)

    def flush(self) -> None:
        with self._flush_lock:
            pending, self._to_flush = self._to_flush, {}
        for scope_id, wall_until in pending.items():
            until = timezone.now() + timedelta(seconds=max(0.0, wall_until - time.time()))
            throttle, created = AdAccountThrottle.objects.get_or_create(
                ad_account_id=scope_id, defaults={"blocked_until": until, "reason": "Facebook throttled calls"}
            )
            if not created:
                # Never shorten a longer wait another worker recorded meanwhile.
                AdAccountThrottle.objects.filter(pk=throttle.pk).update(
                    blocked_until=Greatest("blocked_until", until), reason="Facebook throttled calls"
                )
