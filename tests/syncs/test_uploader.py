"""The uploader's pipeline: a lane that comes back gets its next batch before the batch it
finished is recorded, and every finished batch is recorded even when the next one cannot be read."""

from __future__ import annotations

import threading

import pytest

from integrations.facebook.results import UploadResult
from syncs.uploader import Batch, Uploader


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def users_add(self, audience_id, *, schema, rows, session) -> UploadResult:
        with self.lock:
            self.sent.append(session.batch_seq)
        return UploadResult(audience_id=audience_id, session_id=session.session_id, num_received=rows.count,
                            num_invalid_entries=0, invalid_entry_samples={}, http_status=200, fbtrace_id=None,
                            attempts=1, duration=0.0)


def _batches(count: int):
    for number in range(count):
        yield Batch(rows=[(number, f'["{number:064x}"]')])


def test_a_returning_lane_is_sent_its_next_batch_before_the_finished_one_is_recorded() -> None:
    events: list[tuple[str, int]] = []
    sequence = iter(range(1, 100))

    def on_sending(batch: Batch) -> int:
        record = next(sequence)
        events.append(("sending", record))
        return record

    uploader = Uploader(operation="add", audience_id="1", schema=["EMAIL"], clients=[FakeClient()],
                        estimated_total=3, on_sending=on_sending,
                        on_outcome=lambda outcome: events.append(("recorded", outcome.batch.record_id)))

    uploader.run(_batches(3))

    assert events == [("sending", 1), ("sending", 2), ("recorded", 1), ("sending", 3), ("recorded", 2),
                      ("recorded", 3)]


def test_finished_batches_are_recorded_even_when_the_next_batch_cannot_be_read() -> None:
    recorded: list[int] = []
    sequence = iter(range(1, 100))

    def batches():
        yield from _batches(3)
        raise OSError("the plan could not be read")

    uploader = Uploader(operation="add", audience_id="1", schema=["EMAIL"], clients=[FakeClient()],
                        estimated_total=4, on_sending=lambda batch: next(sequence),
                        on_outcome=lambda outcome: recorded.append(outcome.batch.record_id))

    with pytest.raises(OSError):
        uploader.run(batches())

    # The read ahead fails while batch 2 is out: batch 1 came back and is recorded; batch 2
    # stays "sending", for the next run to resend.
    assert recorded == [1]
