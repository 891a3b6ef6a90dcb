"""Checking large upload bodies in worker processes (`run_sandbox --payload-workers N`).

Facebook answers many upload calls at once. The sandbox is one Python process, whose
request threads share one interpreter lock: on its own it checks one 10,000-row body at a
time (about 45 ms of CPU each: decoding the JSON, Meta's format rules, the row keys and
the matching), so concurrent upload lanes queue there as they never would at Facebook.
With workers, a request thread hands a large JSON body to a worker process and waits
for its verdict, and the lock stays free for the other calls.

The workers run `rows.parse_payload`, the function the request thread runs without them,
and their verdict is used where the request thread would have parsed: a refused payload
is refused at the same point of the call (after the token, the audience and the
permissions were checked), with the same error. Workers are forked from the server
before it serves, with the population index loaded, so they share its pages; they never
touch the database.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import signal
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

from django.db import connections

from integrations.sandbox import matching, rows
from integrations.sandbox.graph_errors import GraphRefusal

logger = logging.getLogger(__name__)

# Below this a body is checked in the request thread: a worker's round trip (sending the
# body, the answer back) costs more than it saves on a few hundred rows.
MIN_BODY_BYTES = 128 * 1024
# A worker's verdict on 10,000 rows takes tens of milliseconds; past this the worker is
# taken for lost (killed, stuck) and the request thread checks the body itself.
VERDICT_TIMEOUT_SECONDS = 30

_pool: Pool | None = None


@dataclass(frozen=True)
class CheckedPayload:
    """The `payload` parameter, already checked by a worker: its rows, or why it is refused."""

    parsed: rows.ParsedRows | None
    refusal: dict[str, Any] | None

    def result(self) -> rows.ParsedRows:
        if self.refusal is not None:
            raise GraphRefusal(**self.refusal)
        assert self.parsed is not None
        return self.parsed


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the server stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start(workers: int) -> None:
    """Fork `workers` processes (call before serving: no other thread may run yet)."""
    global _pool
    if workers <= 0 or _pool is not None:
        return
    matching.facebook_keys()  # loaded before serving, and shared with the workers
    if "fork" not in multiprocessing.get_all_start_methods():  # Windows: bodies stay in the request threads
        logger.warning("Payload workers need fork(); upload bodies are checked in the request threads.")
        return
    connections.close_all()  # a forked child must not share the parent's database sessions
    _pool = multiprocessing.get_context("fork").Pool(workers, initializer=_ignore_interrupts)
    logger.info("Upload bodies checked by %s worker processes.", workers)


def stop() -> None:
    global _pool
    if _pool is not None:
        _pool.terminate()
        _pool.join()
        _pool = None


def body_check(raw: bytes) -> dict[str, Any] | None:
    """The body's parameters with `payload` checked by a worker; None to parse it here.

    None when no workers run, the body is small or has no payload, it is not a JSON
    object, or the worker did not answer: the request thread then reads the body as
    always, with the same errors.
    """
    if _pool is None or len(raw) < MIN_BODY_BYTES:
        return None
    try:
        verdict = _pool.apply_async(_check_in_worker, (raw,)).get(timeout=VERDICT_TIMEOUT_SECONDS)
    except Exception:  # a lost worker must not lose the call
        logger.warning("A payload worker did not answer; the body is checked in the request thread.", exc_info=True)
        return None
    if verdict is None:
        return None
    params, parsed, refusal = verdict
    params["payload"] = CheckedPayload(parsed=parsed, refusal=refusal)
    return params


def _check_in_worker(raw: bytes) -> tuple[dict[str, Any], rows.ParsedRows | None, dict[str, Any] | None] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict) or "payload" not in body:
        return None
    payload = body.pop("payload")
    try:
        return body, rows.parse_payload(payload), None
    except GraphRefusal as refusal:  # sent back as fields: the exception itself does not pickle
        return body, None, {f.name: getattr(refusal, f.name) for f in dataclasses.fields(refusal)}
