"""Amplitude's behavioral cohorts API: list cohorts, and the three-step member download.

Every HTTP call of the cohort source goes through `AmplitudeClient._send`: one
`requests.Session`, Basic auth (API key as user, secret key as password), a timeout on
every call, bounded retries with backoff on 429 (honouring Retry-After) and on 5xx or
network failures, and one mapping of failures into `cohorts.amplitude.errors`.
Facts: /work/shared/docs/amplitude-cohorts-api.md (section 1).
"""

from __future__ import annotations

import gzip
import io
import logging
import random
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO

import requests
import urllib3.exceptions

from cohorts.amplitude.errors import (
    AmplitudeAuthError,
    AmplitudeError,
    AmplitudeExportFailed,
    AmplitudeExportTimeout,
    AmplitudeMalformedResponse,
    AmplitudeNotFound,
    AmplitudeRateLimited,
    AmplitudeUnavailable,
)

logger = logging.getLogger(__name__)

# REST hosts per data region; analytics.amplitude.com is the web UI, not the API.
# https://amplitude.com/docs/apis/analytics/behavioral-cohorts (Regions)
API_URL_BY_REGION = {"US": "https://amplitude.com", "EU": "https://analytics.eu.amplitude.com"}

# https://amplitude.com/docs/apis/analytics/behavioral-cohorts#get-all-cohorts
COHORTS_LIST_PATH = "/api/3/cohorts"
# https://amplitude.com/docs/apis/analytics/behavioral-cohorts#get-one-cohort
# Every call counts against the monthly download cap (500 on Growth and Enterprise).
COHORT_REQUEST_PATH = "/api/5/cohorts/request/{cohort_id}"
# https://amplitude.com/docs/apis/analytics/behavioral-cohorts#get-request-status
COHORT_REQUEST_STATUS_PATH = "/api/5/cohorts/request-status/{request_id}"
# https://amplitude.com/docs/apis/analytics/behavioral-cohorts#download-cohort
# Small files come inline; large ones as a 302 to a pre-signed S3 URL valid one minute.
COHORT_REQUEST_FILE_PATH = "/api/5/cohorts/request/{request_id}/file"

GZIP_MAGIC = b"\x1f\x8b"
STATUS_COMPLETED = "JOB COMPLETED"
_FAILED_WORDS = ("FAIL", "ERROR", "CANCEL")
_REDIRECTS = {301, 302, 303, 307, 308}


class RequestKind:
    """How a request counts in AmplitudeUsage: downloads are capped per month."""

    DOWNLOAD = "download"
    OTHER = "other"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    # Sleeping longer than this in one call means Amplitude is down: stop and say so.
    max_total_wait: float = 120.0


@dataclass(frozen=True)
class PollPolicy:
    timeout: float = 900.0  # jobs commonly take 30-60 s whatever the size
    first_interval: float = 1.0
    max_interval: float = 10.0


@dataclass(frozen=True)
class AmplitudeCohortInfo:
    """The fields of a COHORT_OBJECT this tool keeps."""

    id: str
    name: str
    description: str
    size: int | None
    last_computed: datetime | None
    last_computed_marker: str  # as received: an opaque change marker
    archived: bool


def cohort_info_parse(item: dict[str, Any]) -> AmplitudeCohortInfo:
    raw_computed = item.get("lastComputed")
    size = item.get("size")
    return AmplitudeCohortInfo(
        id=str(item["id"])[:64],
        name=str(item.get("name") or item["id"])[:300],
        description=str(item.get("description") or ""),
        size=int(size) if isinstance(size, int | float) and size >= 0 else None,
        last_computed=timestamp_parse(raw_computed),
        last_computed_marker="" if raw_computed in (None, "") else str(raw_computed)[:40],
        archived=bool(item.get("archived")),
    )


def timestamp_parse(value: Any) -> datetime | None:
    """Amplitude's timestamps: epoch seconds in its docs, milliseconds in the wild, or ISO text."""
    if value in (None, "") or isinstance(value, bool):
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if number is None or number <= 0:
        return None
    if number > 1e11:  # after 1973 in milliseconds, or after 5138 in seconds
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


class AmplitudeClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        secret_key: str,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        on_request: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = (api_key, secret_key)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._on_request = on_request
        self._sleep = sleep
        self.session = session or requests.Session()

    # --- the API ------------------------------------------------------------------------

    def cohorts_list(self) -> list[AmplitudeCohortInfo]:
        """Every cohort of the project."""
        response = self._send("GET", self._url(COHORTS_LIST_PATH), kind=RequestKind.OTHER)
        payload = _json(response)
        cohorts = payload.get("cohorts") if isinstance(payload, dict) else None
        if not isinstance(cohorts, list):
            raise AmplitudeMalformedResponse("Amplitude's cohort list has no 'cohorts' array.")
        return [cohort_info_parse(item) for item in cohorts if isinstance(item, dict) and item.get("id")]

    def cohort_export_request(self, cohort_id: str, *, prop_keys: list[str]) -> str:
        """Step 1: ask Amplitude to prepare the member file; returns the request id."""
        params: list[tuple[str, str]] = []
        if prop_keys:
            params.append(("props", "1"))
            params.extend(("propKeys", key) for key in prop_keys)
        url = self._url(COHORT_REQUEST_PATH.format(cohort_id=requests.utils.quote(cohort_id, safe="")))
        response = self._send("GET", url, kind=RequestKind.DOWNLOAD, params=params)
        payload = _json(response)
        request_id = payload.get("request_id") if isinstance(payload, dict) else None
        if not request_id:
            raise AmplitudeMalformedResponse("Amplitude accepted the download request without a request_id.")
        return str(request_id)

    def cohort_export_status(self, request_id: str) -> str:
        """Step 2, once: the job's async_status ("JOB INPROGRESS", "JOB COMPLETED", ...)."""
        url = self._url(COHORT_REQUEST_STATUS_PATH.format(request_id=requests.utils.quote(request_id, safe="")))
        response = self._send("GET", url, kind=RequestKind.OTHER)
        payload = _json(response)
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            # Amplitude's error envelope can arrive with a 200: the export did not complete.
            raise _error_from_envelope(payload["error"])
        status = str(payload.get("async_status", "")) if isinstance(payload, dict) else ""
        if response.status_code == 200 and not status:
            # A 200 without a status is how Amplitude's own client reads "done".
            return STATUS_COMPLETED
        return status

    def cohort_export_wait(self, request_id: str, *, poll: PollPolicy | None = None) -> None:
        """Step 2: poll until the file is ready, within a bounded total time.

        Any status other than COMPLETED (INPROGRESS, ENQUEUED, unknown words) keeps
        waiting; only an explicit failure or an HTTP error stops early.
        """
        poll = poll or PollPolicy()
        deadline = time.monotonic() + poll.timeout
        interval = poll.first_interval
        while True:
            status = self.cohort_export_status(request_id)
            if status.upper() == STATUS_COMPLETED:
                return
            if any(word in status.upper() for word in _FAILED_WORDS):
                raise AmplitudeExportFailed(f"Amplitude reports the cohort export as {status!r}.")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AmplitudeExportTimeout(
                    f"Amplitude had not finished preparing the cohort file after {poll.timeout:.0f} s "
                    f"(last status {status or 'none'!r})."
                )
            self._sleep(min(interval, remaining))
            interval = min(interval * 1.5, poll.max_interval)

    @contextmanager
    def cohort_export_file(self, request_id: str) -> Iterator[BinaryIO]:
        """Step 3: the member file as a binary stream, gunzipped when it is gzip.

        A 302 is followed at once (the S3 link lives one minute) without our Basic
        auth: S3 refuses a second auth mechanism, and the key must not leave Amplitude.
        Reading a truncated or broken body raises AmplitudeMalformedResponse.
        """
        url = self._url(COHORT_REQUEST_FILE_PATH.format(request_id=requests.utils.quote(request_id, safe="")))
        response = self._send("GET", url, kind=RequestKind.OTHER, stream=True)
        try:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise AmplitudeMalformedResponse("Amplitude redirected the file download without a Location.")
                response = self._send("GET", location, kind=None, stream=True, authenticated=False)
            _refuse_html(response)
            yield _open_body(response)
        finally:
            response.close()

    # --- one place for HTTP, retries and error mapping --------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _send(
        self,
        method: str,
        url: str,
        *,
        kind: str | None,
        params: list[tuple[str, str]] | None = None,
        stream: bool = False,
        authenticated: bool = True,
    ) -> requests.Response:
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            if kind is not None and self._on_request is not None:
                self._on_request(kind)  # every request counts, retries included
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    auth=self._auth if authenticated else None,
                    timeout=self.timeout,
                    stream=stream,
                    allow_redirects=False,
                    headers={"Accept": "application/json, text/csv, */*"},
                )
            except requests.RequestException as exc:
                # Unreachable, timed out, or an answer cut off mid-body (chunked encoding,
                # content decoding): all the same to the caller, retried within the bounds.
                error: AmplitudeError = AmplitudeUnavailable(f"Amplitude could not be reached: {_short(exc)}")
                delay = self._backoff(attempt, None)
            else:
                if response.status_code < 400:
                    return response
                error = _error_from_response(response)
                response.close()
                if error.permanent:
                    raise error
                delay = self._backoff(attempt, getattr(error, "retry_after", None))
            if attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_wait:
                raise error
            logger.info("Amplitude %s failed (%s); retry %d in %.1f s", _path_of(url), error.code, attempt, delay)
            self._sleep(delay)
            waited += delay

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry.max_delay)
        delay = min(self.retry.base_delay * 2 ** (attempt - 1), self.retry.max_delay)
        return delay * (0.5 + random.random() / 2)  # jitter: workers do not retry in step


def _error_from_response(response: requests.Response) -> AmplitudeError:
    status = response.status_code
    detail = _error_detail(response)
    if status in (401, 403):
        return AmplitudeAuthError(f"Amplitude refused the credentials (HTTP {status}){detail}.", status_code=status)
    if status == 404:
        return AmplitudeNotFound(f"Amplitude has no such cohort or export (HTTP 404){detail}.", status_code=status)
    if status == 429:
        return AmplitudeRateLimited(
            f"Amplitude is rate limiting (HTTP 429){detail}.",
            retry_after=_retry_after(response.headers.get("Retry-After")),
            status_code=status,
        )
    if status >= 500:
        return AmplitudeUnavailable(f"Amplitude failed (HTTP {status}){detail}.", status_code=status)
    error = AmplitudeError(
        f"Amplitude refused the request (HTTP {status}){detail}.",
        status_code=status,
        fix="The request was refused as invalid; check the cohort id and the mapped property names.",
    )
    error.permanent = True
    return error


def _error_from_envelope(envelope: dict) -> AmplitudeError:
    """Amplitude's `{"error": {"http_code", "type", "message"}}`, typed like the HTTP status it names."""
    try:
        code = int(envelope.get("http_code") or 500)
    except (TypeError, ValueError):
        code = 500
    message = " ".join(str(envelope.get("message") or envelope.get("type") or "no message").split())[:200]
    fake = requests.Response()
    fake.status_code = code
    fake._content = message.encode()
    return _error_from_response(fake)


def _error_detail(response: requests.Response) -> str:
    """Amplitude's own words, short (an error body never holds member data)."""
    try:
        text = response.content[:2000].decode("utf-8", "replace")
    except (requests.RequestException, urllib3.exceptions.HTTPError):
        return ""
    if "<html" in text.lower():
        return ""
    return f": {' '.join(text.split())[:200]}" if text.strip() else ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _json(response: requests.Response) -> Any:
    _refuse_html(response)
    try:
        return response.json()
    except ValueError:
        raise AmplitudeMalformedResponse(
            f"Amplitude's answer to {_path_of(response.url)} is not complete JSON (HTTP {response.status_code})."
        ) from None


def _refuse_html(response: requests.Response) -> None:
    content_type = response.headers.get("Content-Type", "").lower()
    if "text/html" in content_type:
        raise AmplitudeMalformedResponse(
            f"Amplitude answered {_path_of(response.url)} with an HTML page, not its API's answer "
            f"(HTTP {response.status_code}); a proxy or login page is in the way."
        )


def _open_body(response: requests.Response) -> BinaryIO:
    """The response body as a buffered binary stream, gunzipped when it starts with 1f 8b.

    HTTP clients undo `Content-Encoding: gzip` themselves; Amplitude's files may also be
    gzip files served as plain bytes, so the magic number decides.
    """
    response.raw.decode_content = True
    buffered = io.BufferedReader(_GuardedRaw(response.raw), buffer_size=1 << 16)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(_GuardedRaw(gzip.GzipFile(fileobj=buffered, mode="rb")), buffer_size=1 << 16)
    return buffered


class _GuardedRaw(io.RawIOBase):
    """Turns a broken or cut body (truncated gzip, short read, reset) into one typed error."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._inner.read(len(buffer))
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise AmplitudeMalformedResponse(f"The cohort file is truncated or not valid gzip: {_short(exc)}") from None
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise AmplitudeMalformedResponse(f"The cohort file download broke off: {_short(exc)}") from None
        buffer[: len(data)] = data
        return len(data)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _path_of(url: str | None) -> str:
    """The URL without host or query (S3 query strings carry signatures)."""
    if not url:
        return "?"
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
