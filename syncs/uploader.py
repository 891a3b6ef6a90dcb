"""Sending batches to Facebook: upload sessions, concurrent lanes, splitting, and the record of each batch.

Threads only talk HTTP. Every database write (the batch record before sending, the
ledger and counters after Facebook confirmed) happens in the calling thread, so a run
has a single writer and the batch record always exists before its request leaves.

Each lane is one Graph upload session sending its batches in order (batch_seq 1, 2,
...); the last batch of each lane carries `last_batch_flag`. A batch goes to lane
`i % lanes`, and the producer looks `lanes` batches ahead so it knows which batch is
the last of its lane before sending it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from integrations.facebook.client import GraphClient
from integrations.facebook.errors import GraphError, PayloadTooLarge
from integrations.facebook.results import SerializedRows, UploadResult, UploadSession, new_session_id

OPERATIONS = {"add": "users_add", "remove": "users_remove", "replace": "users_replace"}


@dataclass
class Batch:
    """Rows of one request: (row_hash, row JSON) pairs, as read from the plan."""

    rows: list[tuple[int, str]]
    lane: int = 0
    last_of_lane: bool = False
    # Set when sent: the record's id and the session position.
    record_id: int | None = None
    session_id: int | None = None
    batch_seq: int | None = None

    def serialized(self) -> SerializedRows:
        return SerializedRows("[" + ",".join(row for _, row in self.rows) + "]", len(self.rows))

    def halves(self) -> tuple[Batch, Batch]:
        middle = len(self.rows) // 2
        first = Batch(self.rows[:middle], lane=self.lane, last_of_lane=False)
        second = Batch(self.rows[middle:], lane=self.lane, last_of_lane=self.last_of_lane)
        return first, second


@dataclass
class Outcome:
    batch: Batch
    result: UploadResult | None = None
    error: GraphError | None = None
    duration: float = 0.0


@dataclass
class Lane:
    client: GraphClient
    session_id: int = field(default_factory=new_session_id)
    next_seq: int = 1
    busy: bool = False
    pending: deque[Batch] = field(default_factory=deque)  # halves of a split batch go first


def batches_of(pages: Iterator[list[tuple[int, str]]], *, rows_per_batch: int) -> Iterator[Batch]:
    """Regroup database pages into batches of at most `rows_per_batch` rows."""
    buffer: list[tuple[int, str]] = []
    for page in pages:
        buffer.extend(page)
        while len(buffer) >= rows_per_batch:
            yield Batch(buffer[:rows_per_batch])
            buffer = buffer[rows_per_batch:]
    if buffer:
        yield Batch(buffer)


class _LookAhead:
    """Batches in order, telling for each whether it is the last of its lane.

    Batch i goes to lane i % lanes, so it is its lane's last when there is no batch
    i + lanes: the feed keeps `lanes` batches read ahead to know.
    """

    def __init__(self, batches: Iterator[Batch], *, lanes: int) -> None:
        self._batches = batches
        self._lanes = lanes
        self._buffer: deque[Batch] = deque()
        self._exhausted = False
        self.index = 0  # index of the next batch to pop

    def _fill(self) -> None:
        while not self._exhausted and len(self._buffer) <= self._lanes:
            try:
                self._buffer.append(next(self._batches))
            except StopIteration:
                self._exhausted = True

    def has_next(self) -> bool:
        self._fill()
        return bool(self._buffer)

    def pop(self) -> tuple[Batch, bool]:
        self._fill()
        batch = self._buffer.popleft()
        self.index += 1
        return batch, self._exhausted and len(self._buffer) < self._lanes


class UploadStopped(Exception):
    """A batch met an error that ends the run (the error is in `.error`)."""

    def __init__(self, error: GraphError) -> None:
        super().__init__(str(error))
        self.error = error


class Uploader:
    """Sends the batches of one operation of one run.

    `on_sending(batch) -> record id` and `on_outcome(outcome)` are the run's bookkeeping
    hooks (called in this thread). `should_stop()` is asked between batches.
    """

    def __init__(
        self,
        *,
        operation: str,
        audience_id: str,
        schema: list[str],
        clients: list[GraphClient],
        estimated_total: int,
        on_sending: Callable[[Batch], int],
        on_outcome: Callable[[Outcome], None],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"Unknown operation {operation!r}")
        self.operation = operation
        self.audience_id = audience_id
        self.schema = schema
        self.lanes = [Lane(client=client) for client in clients]
        self.estimated_total = estimated_total
        self.on_sending = on_sending
        self.on_outcome = on_outcome
        self.should_stop = should_stop

    # --- the producer side ---------------------------------------------------------------
    def run(self, batches: Iterator[Batch]) -> None:
        """Send every batch; raises UploadStopped on a run-ending error (after in-flight ones land)."""
        feed = _LookAhead(batches, lanes=len(self.lanes))
        in_flight: dict[Future, Lane] = {}
        stop_error: GraphError | None = None
        unrecorded: list[Outcome] = []
        with ThreadPoolExecutor(max_workers=len(self.lanes), thread_name_prefix=f"upload-{self.operation}") as pool:
            while True:
                try:
                    if stop_error is None and not self.should_stop():
                        self._dispatch(pool, in_flight, feed)
                finally:
                    # Outcomes are recorded (tens of milliseconds each) after the freed lanes
                    # got their next batch, so a lane waits only for its batch to be read;
                    # they are recorded even if reading the next batch failed.
                    self._record(unrecorded)
                if not in_flight:
                    # Every lane is idle and nothing more may (or can) be dispatched.
                    break
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                try:
                    for future in done:
                        lane = in_flight.pop(future)
                        lane.busy = False
                        outcome: Outcome = future.result()
                        error = outcome.error
                        if isinstance(error, PayloadTooLarge) and len(outcome.batch.rows) > 1:
                            # Meta refused the size: the same lane resends it as two halves,
                            # next in its session, before any new batch.
                            first, second = outcome.batch.halves()
                            lane.pending.extend([first, second])
                            # Facebook did not take the refused batch: its place in the session is free.
                            lane.next_seq = outcome.batch.batch_seq or lane.next_seq
                        elif error is not None and stop_error is None:
                            stop_error = error
                        unrecorded.append(outcome)
                except BaseException:  # a lane failed outside Graph's errors: keep what the others brought
                    self._record(unrecorded)
                    raise
        if stop_error is not None:
            raise UploadStopped(stop_error)

    def _record(self, outcomes: list[Outcome]) -> None:
        while outcomes:
            self.on_outcome(outcomes.pop(0))

    def _dispatch(self, pool: ThreadPoolExecutor, in_flight: dict, feed: _LookAhead) -> None:
        for lane in self.lanes:
            if not lane.busy and lane.pending:
                self._submit(pool, in_flight, lane, lane.pending.popleft())
        while feed.has_next():
            lane_index = feed.index % len(self.lanes)
            lane = self.lanes[lane_index]
            if lane.busy or lane.pending:
                return
            batch, last_of_lane = feed.pop()
            batch.lane = lane_index
            batch.last_of_lane = last_of_lane
            self._submit(pool, in_flight, lane, batch)

    def _submit(self, pool: ThreadPoolExecutor, in_flight: dict, lane: Lane, batch: Batch) -> None:
        batch.session_id = lane.session_id
        batch.batch_seq = lane.next_seq
        lane.next_seq += 1
        batch.record_id = self.on_sending(batch)
        lane.busy = True
        in_flight[pool.submit(self._send, lane, batch)] = lane

    # --- the lane side (a worker thread: HTTP only) ------------------------------------------
    def _send(self, lane: Lane, batch: Batch) -> Outcome:
        session = UploadSession(
            session_id=lane.session_id,
            batch_seq=batch.batch_seq or 1,
            last_batch_flag=batch.last_of_lane,
            estimated_num_total=self.estimated_total or None,
        )
        method = getattr(lane.client, OPERATIONS[self.operation])
        started = time.monotonic()
        try:
            result = method(self.audience_id, schema=self.schema, rows=batch.serialized(), session=session)
        except GraphError as error:
            return Outcome(batch=batch, error=error, duration=time.monotonic() - started)
        return Outcome(batch=batch, result=result, duration=time.monotonic() - started)
