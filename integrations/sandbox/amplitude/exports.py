"""The sandbox's cohort files: written once per membership, in the background, then streamed.

A request for a cohort starts writing its gzip CSV (about 10 us per person, so about
10 s for a million) while the job answers "JOB INPROGRESS"; the file is kept under the
temp directory, keyed by the exact membership and columns, so later downloads of the same
membership only stream it. Columns: `amplitude_id,user_id` plus the requested properties,
as in Amplitude's export.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from integrations.sandbox import population
from integrations.sandbox.amplitude.membership import CohortShape, email_variant, is_anonymous, member_indexes

logger = logging.getLogger(__name__)

FORMAT_VERSION = "1"
PROPERTY_NAMES = list(population.amplitude_properties(population.person(0)))
S3_LINK_SECONDS = 60  # Amplitude's pre-signed S3 links live one minute
_KEEP_SECONDS = 24 * 3600

_running: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    configured = getattr(settings, "AMPLITUDE_SANDBOX_CACHE_DIR", "") or os.environ.get("AMPLITUDE_SANDBOX_CACHE_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "amplitude-sandbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_file_name(*, shape: CohortShape, prop_keys: list[str]) -> str:
    """The membership and the columns decide the content: equal shapes share one file."""
    columns = hashlib.sha256("\x1f".join(prop_keys).encode()).hexdigest()[:8]
    return f"cohort-{shape.key()}-{columns}-v{FORMAT_VERSION}.csv.gz"


def export_path(file_name: str) -> Path:
    return cache_dir() / file_name


def export_ready(file_name: str) -> bool:
    return export_path(file_name).is_file()


def export_start(*, file_name: str, shape: CohortShape, prop_keys: list[str]) -> None:
    """Start writing the file in a thread unless it exists or is being written."""
    with _lock:
        for name in [name for name, thread in _running.items() if not thread.is_alive()]:
            del _running[name]
        if export_ready(file_name):
            return
        running = _running.get(file_name)
        if running is not None and running.is_alive():
            return
        thread = threading.Thread(
            target=_write_safely, args=(file_name, shape, list(prop_keys)), name=f"amp-export-{file_name}", daemon=True
        )
        _running[file_name] = thread
        thread.start()


def export_wait(file_name: str, *, timeout: float = 600) -> bool:
    """For scripts: block until the file is written."""
    deadline = time.monotonic() + timeout
    while not export_ready(file_name):
        thread = _running.get(file_name)
        if thread is None or not thread.is_alive():
            return export_ready(file_name)
        thread.join(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
        if time.monotonic() > deadline:
            return False
    return True


def _write_safely(file_name: str, shape: CohortShape, prop_keys: list[str]) -> None:
    try:
        export_write(export_path(file_name), shape=shape, prop_keys=prop_keys)
        _forget_old_files()
    except Exception:  # a background thread has nobody to raise to
        logger.exception("The sandbox could not write cohort file %s", file_name)


def member_properties(shape: CohortShape) -> Iterator[tuple[population.Person, dict[str, str]]]:
    """Each member of the cohort, in its order, with the user properties its export carries.

    A member inside the cohort's email windows has changed email that many times: the
    export reads `local.v<n>@domain` for them. Checks that compute what an audience must
    hold from the population read the members here, as the export writes them.
    """
    for index, position in member_indexes(shape):
        someone = population.person(index)
        props = population.amplitude_properties(someone)
        variant = email_variant(shape, position) if shape.email_windows else 0
        if variant:
            local, _, domain = someone.email.partition("@")
            props["email"] = f"{local}.v{variant}@{domain}"
        yield someone, props


def export_write(path: Path, *, shape: CohortShape, prop_keys: list[str]) -> None:
    """Write the gzip CSV atomically (a reader never sees half a file)."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    if prop_keys:
        members = member_properties(shape)
    else:  # ids only: the properties are not worked out
        members = ((population.person(index), {}) for index, _ in member_indexes(shape))
    try:
        with gzip.open(partial, "wt", encoding="utf-8", newline="", compresslevel=1) as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["amplitude_id", "user_id", *prop_keys])
            rows = []
            for someone, props in members:
                user_id = "" if is_anonymous(someone.index) else someone.user_id
                rows.append([someone.amplitude_id, user_id, *[props.get(key, "") for key in prop_keys]])
                if len(rows) >= 5000:
                    writer.writerows(rows)
                    rows = []
            writer.writerows(rows)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _forget_old_files() -> None:
    cutoff = time.time() - _KEEP_SECONDS
    for path in cache_dir().glob("*.csv.gz"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


# --- the "S3" link -----------------------------------------------------------------------------


def s3_signature(file_name: str, expires_at: int) -> str:
    message = f"{file_name}|{expires_at}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def s3_query(file_name: str, *, now: float | None = None) -> dict[str, str]:
    issued = int(now if now is not None else time.time())
    expires_at = issued + S3_LINK_SECONDS
    return {
        "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(issued)),
        "X-Amz-Expires": str(S3_LINK_SECONDS),
        "X-Amz-Deadline": str(expires_at),
        "X-Amz-Signature": s3_signature(file_name, expires_at),
    }


def s3_link_valid(file_name: str, *, deadline: str, signature: str, now: float | None = None) -> str | None:
    """None when valid, else S3's error code."""
    try:
        expires_at = int(deadline)
    except ValueError:
        return "AuthorizationQueryParametersError"
    if not hmac.compare_digest(s3_signature(file_name, expires_at), signature or ""):
        return "SignatureDoesNotMatch"
    if (now if now is not None else time.time()) > expires_at:
        return "AccessDenied"
    return None
