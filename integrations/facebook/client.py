"""The Graph API client: every HTTP call to Facebook goes through `GraphClient`.

One `requests.Session` per client, a timeout on every call, `appsecret_proof` on every
call when an app secret is set, usage headers kept in `last_usage`, every HTTP attempt
counted in `calls_made`, failures turned into `integrations.facebook.errors` once, and
retries done in `integrations.facebook.retry` only.

Credentials travel in the query string for GET (as Meta documents) and inside the JSON
body for POST and DELETE; a removal's rows are therefore never part of a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import EllipsisType
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

from integrations.facebook import endpoints
from integrations.facebook.errors import (
    CallContext,
    GraphError,
    MalformedResponse,
    RateLimited,
    Transient,
    error_from_envelope,
    error_from_status,
)
from integrations.facebook.results import (
    AccessToken,
    AdAccount,
    Audience,
    AudienceSession,
    ReportRun,
    SerializedRows,
    TokenInfo,
    UploadResult,
    UploadSession,
)
from integrations.facebook.retry import NoThrottleGate, RetryPolicy, ThrottleGate, call_with_retries
from integrations.facebook.usage import Usage

CONNECT_TIMEOUT_SECONDS = 10.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0

AD_ACCOUNT_FIELDS = (
    "id",
    "account_id",
    "name",
    "account_status",
    "business{id,name}",
    "tos_accepted",
    "user_tos_accepted",
    "currency",
    "timezone_name",
)
AUDIENCE_FIELDS = (
    "id",
    "name",
    "description",
    "subtype",
    "customer_file_source",
    "approximate_count_lower_bound",
    "approximate_count_upper_bound",
    "operation_status",
    "delivery_status",
    "account_id",
)
SESSION_FIELDS = (
    "session_id",
    "start_time",
    "end_time",
    "num_received",
    "num_invalid_entries",
    "num_matched",
    "progress",
    "stage",
)
CAMPAIGN_FIELDS = ("id", "name", "objective", "status")
AD_SET_FIELDS = ("id", "name", "campaign_id", "status", "targeting{custom_audiences}")
CUSTOMER_FILE_SOURCES = frozenset({"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"})
Rows = Sequence[Sequence[str]] | SerializedRows
Timeout = float | tuple[float, float]


def _setting(name: str, default: Any) -> Any:
    """A Django setting when Django is configured; the client also works without it."""
    try:
        from django.conf import settings
    except ImportError:  # pragma: no cover - Django is always installed here
        return default
    if not settings.configured:
        return default
    return getattr(settings, name, None) or default


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """hex(HMAC-SHA256(key=app secret, message=access token)), as Meta verifies it."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass
class GraphResponse:
    data: Any
    status: int
    headers: Mapping[str, str]
    attempts: int = 1
    duration: float = 0.0

    @property
    def fbtrace_id(self) -> str | None:
        return self.headers.get("x-fb-trace-id")


class GraphClient:
    def __init__(
        self,
        access_token: str,
        *,
        ad_account_id: str | None = None,
        base_url: str | None = None,
        version: str | None = None,
        app_secret: str | None = None,
        timeout: Timeout | None = None,
        retry_policy: RetryPolicy | None = None,
        throttle_gate: ThrottleGate | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.access_token = access_token
        self.ad_account_id = endpoints.ad_account_path_id(ad_account_id) if ad_account_id else None
        self.base_url = str(base_url or _setting("FACEBOOK_GRAPH_URL", endpoints.GRAPH_URL)).rstrip("/")
        self.version = version or _setting("FACEBOOK_GRAPH_VERSION", endpoints.DEFAULT_VERSION)
        self.app_secret = app_secret or None
        read_timeout = float(_setting("GRAPH_TIMEOUT_SECONDS", DEFAULT_READ_TIMEOUT_SECONDS))
        self.timeout: Timeout = timeout if timeout is not None else (CONNECT_TIMEOUT_SECONDS, read_timeout)
        self.retry_policy = retry_policy or RetryPolicy()
        self.throttle_gate: ThrottleGate = throttle_gate or NoThrottleGate()
        self.session = session or requests.Session()
        self.calls_made = 0
        self.last_usage = Usage()
        self._counter_lock = threading.Lock()

    @classmethod
    def from_settings(cls, access_token: str, **kwargs: Any) -> GraphClient:
        """A client for a token of this project's own Facebook app (proof signed with its secret)."""
        kwargs.setdefault("app_secret", _setting("FACEBOOK_APP_SECRET", None))
        return cls(access_token, **kwargs)

    def __repr__(self) -> str:  # never the token
        return f"<GraphClient {self.base_url}/{self.version} ad_account={self.ad_account_id}>"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Identity and tokens ----------------------------------------------------------

    def me(self, fields: Sequence[str] = ("id", "name")) -> dict[str, Any]:
        return self._get(endpoints.ME, params={"fields": ",".join(fields)}).data

    def permissions(self) -> dict[str, str]:
        """{permission: "granted" | "declined" | "expired"} for the token's person."""
        return {
            str(row.get("permission")): str(row.get("status"))
            for row in self._paged(endpoints.ME_PERMISSIONS, params={})
        }

    def revoke_permissions(self) -> bool:
        """De-authorise the app for the token's person (Disconnect); the token dies with it."""
        response = self._request("DELETE", endpoints.ME_PERMISSIONS, body={})
        return bool(response.data.get("success"))

    def debug_token(
        self, input_token: str | None = None, *, app_id: str | None = None, app_secret: str | None = None
    ) -> TokenInfo:
        """Inspect a token; with app credentials the inspecting token is the app token."""
        inspector = f"{app_id}|{app_secret}" if app_id and app_secret else self.access_token
        response = self._get(
            endpoints.DEBUG_TOKEN,
            params={"input_token": input_token or self.access_token},
            token=inspector,
        )
        return TokenInfo.from_graph(response.data.get("data") or {})

    def exchange_long_lived_token(
        self, short_lived_token: str | None = None, *, app_id: str, app_secret: str | None = None
    ) -> AccessToken:
        """Swap a short-lived user token for a ~60-day one."""
        params = {
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret or self.app_secret or "",
            "fb_exchange_token": short_lived_token or self.access_token,
        }
        return self._token_answer(self._get(endpoints.OAUTH_ACCESS_TOKEN, params=params, token=None))

    def exchange_code(self, code: str, *, redirect_uri: str, app_id: str, app_secret: str) -> AccessToken:
        """The manual login flow's code -> short-lived token step (codes are single use)."""
        params = {"client_id": app_id, "client_secret": app_secret, "redirect_uri": redirect_uri, "code": code}
        response = self._request("GET", endpoints.OAUTH_ACCESS_TOKEN, params=params, token=None, idempotent=False)
        return self._token_answer(response)

    def app_access_token(self, *, app_id: str, app_secret: str) -> AccessToken:
        params = {"grant_type": "client_credentials", "client_id": app_id, "client_secret": app_secret}
        return self._token_answer(self._get(endpoints.OAUTH_ACCESS_TOKEN, params=params, token=None))

    @staticmethod
    def _token_answer(response: GraphResponse) -> AccessToken:
        data = response.data
        if not isinstance(data, dict) or not data.get("access_token"):
            raise MalformedResponse("The token answer carries no access_token.", http_status=response.status)
        expires_in = data.get("expires_in")
        return AccessToken(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "bearer"),
            expires_in=int(expires_in) if expires_in not in (None, "") else None,
        )

    # --- Ad accounts ------------------------------------------------------------------

    def ad_accounts(self, fields: Sequence[str] = AD_ACCOUNT_FIELDS) -> Iterator[AdAccount]:
        for row in self._paged(endpoints.ME_AD_ACCOUNTS, params={"fields": ",".join(fields)}):
            yield AdAccount.from_graph(row)

    def ad_account(self, ad_account_id: str | None = None, fields: Sequence[str] = AD_ACCOUNT_FIELDS) -> AdAccount:
        account = self._account(ad_account_id)
        response = self._get(
            endpoints.AD_ACCOUNT.format(ad_account_id=account),
            params={"fields": ",".join(fields)},
            context=CallContext(ad_account_id=account),
        )
        return AdAccount.from_graph(response.data)

    # --- Custom audiences --------------------------------------------------------------

    def custom_audiences(
        self, ad_account_id: str | None = None, fields: Sequence[str] = AUDIENCE_FIELDS
    ) -> Iterator[Audience]:
        account = self._account(ad_account_id)
        path = endpoints.AD_ACCOUNT_CUSTOM_AUDIENCES.format(ad_account_id=account)
        context = CallContext(ad_account_id=account)
        for row in self._paged(path, params={"fields": ",".join(fields)}, context=context):
            yield Audience.from_graph(row)

    def custom_audience_create(
        self,
        *,
        name: str,
        description: str = "",
        customer_file_source: str = "USER_PROVIDED_ONLY",
        ad_account_id: str | None = None,
    ) -> str:
        """Create a customer-file audience; returns its id."""
        if customer_file_source not in CUSTOMER_FILE_SOURCES:
            raise ValueError(f"customer_file_source must be one of {sorted(CUSTOMER_FILE_SOURCES)}")
        account = self._account(ad_account_id)
        body = {
            "name": name,
            "subtype": "CUSTOM",
            "description": description,
            "customer_file_source": customer_file_source,
        }
        # Not idempotent: a resend after a lost answer could create a second audience.
        response = self._request(
            "POST",
            endpoints.AD_ACCOUNT_CUSTOM_AUDIENCES.format(ad_account_id=account),
            body=body,
            context=CallContext(ad_account_id=account),
            idempotent=False,
        )
        audience_id = response.data.get("id") if isinstance(response.data, dict) else None
        if not audience_id:
            raise MalformedResponse("Audience creation answered without an id.", http_status=response.status)
        return str(audience_id)

    def custom_audience(self, audience_id: str, fields: Sequence[str] = AUDIENCE_FIELDS) -> Audience:
        response = self._get(
            endpoints.CUSTOM_AUDIENCE.format(audience_id=audience_id),
            params={"fields": ",".join(fields)},
            context=self._audience_context(audience_id),
        )
        return Audience.from_graph(response.data)

    def custom_audience_delete(self, audience_id: str) -> bool:
        response = self._request(
            "DELETE",
            endpoints.CUSTOM_AUDIENCE.format(audience_id=audience_id),
            body={},
            context=self._audience_context(audience_id),
        )
        return bool(response.data.get("success"))

    def audience_sessions(self, audience_id: str, fields: Sequence[str] = SESSION_FIELDS) -> Iterator[AudienceSession]:
        path = endpoints.CUSTOM_AUDIENCE_SESSIONS.format(audience_id=audience_id)
        for row in self._paged(path, params={"fields": ",".join(fields)}, context=self._audience_context(audience_id)):
            yield AudienceSession.from_graph(row)

    # --- Members -------------------------------------------------------------------------

    def users_add(self, audience_id: str, *, schema: Sequence[str], rows: Rows, session: UploadSession) -> UploadResult:
        return self._upload("POST", endpoints.CUSTOM_AUDIENCE_USERS, audience_id, schema, rows, session)

    def users_remove(
        self, audience_id: str, *, schema: Sequence[str], rows: Rows, session: UploadSession
    ) -> UploadResult:
        # DELETE with the payload in the body: SDKs that put it in the URL fail above a
        # few hundred rows (facebook-python-business-sdk #717, #367).
        return self._upload("DELETE", endpoints.CUSTOM_AUDIENCE_USERS, audience_id, schema, rows, session)

    def users_replace(
        self, audience_id: str, *, schema: Sequence[str], rows: Rows, session: UploadSession
    ) -> UploadResult:
        return self._upload("POST", endpoints.CUSTOM_AUDIENCE_USERS_REPLACE, audience_id, schema, rows, session)

    def upload_body(self, *, schema: Sequence[str], rows: Rows, session: UploadSession) -> bytes:
        """The exact JSON body an upload sends (credentials included)."""
        head, tail = self._upload_envelope(schema, session)
        return head + self._rows_json(rows) + tail

    def upload_body_overhead(self, *, schema: Sequence[str], session: UploadSession) -> int:
        """Bytes of an upload body outside its rows: body size = this + len(rows JSON)."""
        head, tail = self._upload_envelope(schema, session)
        return len(head) + len(tail)

    def upload_body_size(self, *, schema: Sequence[str], rows: Rows, session: UploadSession) -> int:
        """How many bytes an upload of these rows sends, for the request-size cap."""
        return self.upload_body_overhead(schema=schema, session=session) + len(self._rows_json(rows))

    def _upload_envelope(self, schema: Sequence[str], session: UploadSession) -> tuple[bytes, bytes]:
        # Multi-key schema, always a list, so `is_raw` must be true (Meta's users reference).
        head = '{"payload":{"schema":' + _compact_json(list(schema)) + ',"is_raw":true,"data":'
        tail = '},"session":' + _compact_json(session.as_payload()) + self._credentials_json(self.access_token) + "}"
        return head.encode(), tail.encode()

    @staticmethod
    def _rows_json(rows: Rows) -> bytes:
        if isinstance(rows, SerializedRows):
            return rows.as_bytes()
        return _compact_json([list(row) for row in rows]).encode()

    def _upload(
        self,
        method: str,
        path_template: str,
        audience_id: str,
        schema: Sequence[str],
        rows: Rows,
        session: UploadSession,
    ) -> UploadResult:
        body = self.upload_body(schema=schema, rows=rows, session=session)
        # Resending a batch is safe: Meta dedups members, and a session batch re-sent
        # with the same batch_seq is treated as the same batch.
        response = self._request(
            method,
            path_template.format(audience_id=audience_id),
            raw_body=body,
            context=self._audience_context(audience_id),
        )
        data = response.data if isinstance(response.data, dict) else {}
        if "num_received" not in data:
            raise MalformedResponse("The upload answer carries no num_received.", http_status=response.status)
        session_id = data.get("session_id")
        return UploadResult(
            audience_id=str(data.get("audience_id") or audience_id),
            session_id=int(session_id) if session_id not in (None, "") else None,
            num_received=int(data.get("num_received") or 0),
            num_invalid_entries=int(data.get("num_invalid_entries") or 0),
            invalid_entry_samples=dict(data.get("invalid_entry_samples") or {}),
            http_status=response.status,
            fbtrace_id=response.fbtrace_id,
            attempts=response.attempts,
            duration=response.duration,
        )

    # --- Campaigns and ad sets ---------------------------------------------------------------

    def campaigns(
        self, ad_account_id: str | None = None, *, fields: Sequence[str] = CAMPAIGN_FIELDS, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The ad account's campaigns (Meta's JSON objects), following cursor pages."""
        yield from self._account_edge(endpoints.AD_ACCOUNT_CAMPAIGNS, ad_account_id, fields, limit)

    def ad_sets(
        self, ad_account_id: str | None = None, *, fields: Sequence[str] = AD_SET_FIELDS, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The ad account's ad sets, by default with `targeting.custom_audiences` ([{id, name}])."""
        yield from self._account_edge(endpoints.AD_ACCOUNT_AD_SETS, ad_account_id, fields, limit)

    def _account_edge(
        self, template: str, ad_account_id: str | None, fields: Sequence[str], limit: int | None
    ) -> Iterator[dict[str, Any]]:
        account = self._account(ad_account_id)
        params: dict[str, Any] = {"fields": ",".join(fields)}
        if limit:
            params["limit"] = limit
        path = template.format(ad_account_id=account)
        yield from self._paged(path, params=params, context=CallContext(ad_account_id=account))

    # --- Insights ----------------------------------------------------------------------------

    def insights(
        self,
        *,
        fields: Sequence[str],
        ad_account_id: str | None = None,
        level: str = "campaign",
        time_range: tuple[date, date] | None = None,
        date_preset: str | None = None,
        time_increment: int | str | None = 1,
        breakdowns: Sequence[str] = (),
        limit: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows of `GET act_<id>/insights`, following cursor pages."""
        account = self._account(ad_account_id)
        params = _insights_params(fields, level, time_range, date_preset, time_increment, breakdowns, limit)
        path = endpoints.AD_ACCOUNT_INSIGHTS.format(ad_account_id=account)
        yield from self._paged(path, params=params, context=CallContext(ad_account_id=account))

    def insights_report_start(
        self,
        *,
        fields: Sequence[str],
        ad_account_id: str | None = None,
        level: str = "campaign",
        time_range: tuple[date, date] | None = None,
        date_preset: str | None = None,
        time_increment: int | str | None = 1,
        breakdowns: Sequence[str] = (),
    ) -> str:
        """Start an async report run (for big ranges); returns its report_run_id."""
        account = self._account(ad_account_id)
        params = _insights_params(fields, level, time_range, date_preset, time_increment, breakdowns, None)
        response = self._request(
            "POST",
            endpoints.AD_ACCOUNT_INSIGHTS.format(ad_account_id=account),
            body=params,
            context=CallContext(ad_account_id=account),
            idempotent=False,
        )
        report_run_id = response.data.get("report_run_id") if isinstance(response.data, dict) else None
        if not report_run_id:
            raise MalformedResponse("The report run answer carries no report_run_id.", http_status=response.status)
        return str(report_run_id)

    def insights_report_status(self, report_run_id: str) -> ReportRun:
        response = self._get(
            endpoints.REPORT_RUN.format(report_run_id=report_run_id),
            params={"fields": "id,async_status,async_percent_completion"},
            context=CallContext(ad_account_id=self.ad_account_id),
        )
        data = response.data
        return ReportRun(
            id=str(data.get("id") or report_run_id),
            async_status=str(data.get("async_status") or ""),
            async_percent_completion=int(data.get("async_percent_completion") or 0),
        )

    def insights_report_rows(self, report_run_id: str, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        params = {"limit": limit} if limit else {}
        path = endpoints.REPORT_RUN_INSIGHTS.format(report_run_id=report_run_id)
        yield from self._paged(path, params=params, context=CallContext(ad_account_id=self.ad_account_id))

    # --- Transport -------------------------------------------------------------------------

    def _account(self, ad_account_id: str | None) -> str:
        account = endpoints.ad_account_path_id(ad_account_id) if ad_account_id else self.ad_account_id
        if not account:
            raise ValueError("No ad account: pass ad_account_id here or to GraphClient().")
        return account

    def _audience_context(self, audience_id: str) -> CallContext:
        return CallContext(ad_account_id=self.ad_account_id, audience_id=str(audience_id))

    def _credentials(self, token: str) -> dict[str, str]:
        credentials = {"access_token": token}
        if self.app_secret:
            credentials["appsecret_proof"] = appsecret_proof(token, self.app_secret)
        return credentials

    def _credentials_json(self, token: str) -> str:
        return "".join(f",{_compact_json(k)}:{_compact_json(v)}" for k, v in self._credentials(token).items())

    def _get(
        self, path: str, *, params: dict[str, Any], context: CallContext | None = None, **kwargs: Any
    ) -> GraphResponse:
        return self._request("GET", path, params=params, context=context, **kwargs)

    def _paged(
        self, path: str, *, params: dict[str, Any], context: CallContext | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the rows of every page, following `paging.cursors.after` while `next` exists."""
        params = dict(params)
        seen_cursors: set[str] = set()
        while True:
            response = self._get(path, params=params, context=context)
            rows = response.data.get("data") if isinstance(response.data, dict) else None
            if not isinstance(rows, list):
                raise MalformedResponse("A list answer carries no data array.", http_status=response.status)
            yield from rows
            paging = response.data.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            # Meta omits `next` on the last page; a repeated cursor would loop forever.
            if not rows or not paging.get("next") or not after or after in seen_cursors:
                return
            seen_cursors.add(after)
            params["after"] = after

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        raw_body: bytes | None = None,
        context: CallContext | None = None,
        idempotent: bool = True,
        token: str | EllipsisType | None = ...,
    ) -> GraphResponse:
        """One logical call: gate, send, classify, retry per policy.

        `token`: the access token to send; `...` means the client's own, None means none
        (the OAuth token endpoints authenticate with client_id/client_secret instead).
        """
        context = context or CallContext(ad_account_id=self.ad_account_id)
        scope = context.ad_account_id
        access_token = self.access_token if token is ... else token
        policy = self.retry_policy

        def attempt() -> GraphResponse:
            if scope:
                self.throttle_gate.wait(scope)
            return self._send_once(method, path, params, body, raw_body, context, access_token)

        def on_throttle(error: RateLimited) -> None:
            if scope:
                self.throttle_gate.record(scope, policy.throttle_wait(error))

        started = policy.clock()
        response, attempts = call_with_retries(attempt, policy=policy, idempotent=idempotent, on_throttle=on_throttle)
        response.attempts = attempts
        response.duration = policy.clock() - started
        return response

    def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        raw_body: bytes | None,
        context: CallContext,
        access_token: str | None,
    ) -> GraphResponse:
        url = f"{self.base_url}/{self.version}/{path}"
        headers = {"Accept": "application/json"}
        query: dict[str, Any] | None = None
        data: bytes | None = None
        if method == "GET":
            query = {key: _query_value(value) for key, value in (params or {}).items()}
            if access_token:
                query.update(self._credentials(access_token))
        else:
            headers["Content-Type"] = "application/json"
            if raw_body is not None:
                data = raw_body
            else:
                payload = dict(body or {})
                if access_token:
                    payload.update(self._credentials(access_token))
                data = _compact_json(payload).encode()
        with self._counter_lock:
            self.calls_made += 1
        try:
            response = self.session.request(method, url, params=query, data=data, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise _transport_error(exc, self.timeout) from None
        usage = Usage.from_headers(response.headers)
        if not usage.is_empty:
            self.last_usage = usage
        return _parse_response(response, context)


def _query_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return _compact_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _insights_params(
    fields: Sequence[str],
    level: str,
    time_range: tuple[date, date] | None,
    date_preset: str | None,
    time_increment: int | str | None,
    breakdowns: Sequence[str],
    limit: int | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"fields": ",".join(fields), "level": level}
    if time_range:
        since, until = time_range
        params["time_range"] = {"since": since.isoformat(), "until": until.isoformat()}
    if date_preset:
        params["date_preset"] = date_preset
    if time_increment is not None:
        params["time_increment"] = time_increment
    if breakdowns:
        params["breakdowns"] = ",".join(breakdowns)
    if limit:
        params["limit"] = limit
    return params


def _transport_error(exc: requests.RequestException, timeout: Timeout) -> GraphError:
    seconds = timeout[1] if isinstance(timeout, tuple) else timeout
    if isinstance(exc, requests.ConnectTimeout):
        return Transient("Could not connect to Facebook in time.", request_sent=False)
    if isinstance(exc, requests.Timeout):
        return Transient(f"Facebook did not answer within {seconds:g} s.")
    if isinstance(exc, requests.ConnectionError):
        sent = not _never_connected(exc)
        return Transient(f"Connection to Facebook failed ({type(exc).__name__}).", request_sent=sent)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return MalformedResponse("Facebook's answer was cut off.")
    return Transient(f"HTTP failure talking to Facebook ({type(exc).__name__}).")


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the request provably never left (connection refused, DNS failure)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError)


_JSON_TYPES = ("json", "javascript")  # Graph answered text/javascript for years


def _parse_response(response: requests.Response, context: CallContext) -> GraphResponse:
    status = response.status_code
    headers = CaseInsensitiveDict(response.headers)
    content_type = headers.get("Content-Type", "").lower()
    try:
        data = json.loads(response.content) if response.content else None
    except ValueError:
        data = None
    looks_like_graph = data is not None and (not content_type or any(t in content_type for t in _JSON_TYPES))

    if looks_like_graph and isinstance(data, dict) and "error" in data:
        # Also covers a 200 whose body is an error: classify by the envelope.
        raise error_from_envelope(data, http_status=status, headers=headers, context=context)
    if status >= 400:
        raise error_from_status(
            status, message=f"Facebook answered HTTP {status} without a Graph error.", headers=headers
        )
    if not looks_like_graph:
        what = "empty" if not response.content else f"not JSON ({content_type or 'no content type'})"
        raise MalformedResponse(
            f"Facebook's answer was {what}.", http_status=status, fbtrace_id=headers.get("x-fb-trace-id")
        )
    if isinstance(data, bool):
        data = {"success": data}  # older DELETE answers are a bare `true`
    if not isinstance(data, dict):
        raise MalformedResponse("Facebook's answer was not a JSON object.", http_status=status)
    return GraphResponse(data=data, status=status, headers=headers)
