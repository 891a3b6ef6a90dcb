"""What every sandbox Graph endpoint does around its own work.

Version check, reading parameters (query string, JSON or form body, under a size cap),
the access token and appsecret_proof, fault injection, Meta's error envelope, and the
headers Meta sends (`x-fb-trace-id`, usage headers).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.sandbox import conf, faults, payload_workers
from integrations.sandbox import graph_errors as refuse
from integrations.sandbox.graph_errors import GraphRefusal, new_trace_id
from integrations.sandbox.models import SandboxAdAccount, SandboxAdAccountRole, SandboxPerson, SandboxToken
from integrations.sandbox.tokens import appsecret_proof_check, token_resolve

OLDEST_VERSION = (21, 0)
_VERSION = re.compile(r"v(\d+)\.(\d+)")
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 5000
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


def version_check(version: str) -> None:
    match = _VERSION.fullmatch(version)
    if not match or (int(match.group(1)), int(match.group(2))) < OLDEST_VERSION:
        raise refuse.deprecated_version(version, f"v{OLDEST_VERSION[0]}.{OLDEST_VERSION[1]}")


def _read_body(request: HttpRequest, *, payload_rows: bool = False) -> dict[str, Any]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > conf.max_body_bytes():
        # Drain without keeping it, so the connection stays usable, then refuse.
        while request.read(1 << 20):
            pass
        raise refuse.body_too_large()
    # Read the stream directly: Django's request.body would stop at its own
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) before the sandbox's cap applies.
    raw = request.read() if length else b""
    if not raw:
        return {}
    content_type = request.content_type or ""
    if "json" in content_type:
        checked = payload_workers.body_check(raw) if payload_rows else None
        if checked is not None:
            return checked
        try:
            body = json.loads(raw)
        except ValueError:
            raise refuse.invalid_parameter("The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise refuse.invalid_parameter("The request body must be a JSON object")
        return body
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    raise refuse.invalid_parameter(f"Unsupported content type {content_type or '(none)'}")


def _bearer_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in {"bearer", "oauth"} and value.strip() else None


@dataclass
class GraphRequest:
    request: HttpRequest
    version: str
    params: dict[str, Any]
    trace_id: str
    token: SandboxToken | None = None
    is_app_token: bool = False
    verdict: faults.Verdict = field(default_factory=faults.Verdict)
    scope_id: str | None = None
    # Meta's business-use-case bucket the call counts against (X-Business-Use-Case-Usage `type`).
    usage_type: str = "custom_audience"

    @property
    def method(self) -> str:
        return self.request.method or "GET"

    def authenticate(self) -> None:
        raw_token = self.params.get("access_token") or _bearer_token(self.request)
        record = token_resolve(raw_token)
        appsecret_proof_check(str(raw_token), self.params.get("appsecret_proof"))
        self.token = record
        self.is_app_token = record is None or record.kind == SandboxToken.Kind.APP

    def person(self) -> SandboxPerson:
        if self.is_app_token or self.token is None or self.token.person is None:
            raise refuse.user_token_needed()
        return self.token.person

    def require_scope(self, *any_of: str) -> None:
        granted = set(self.token.scopes if self.token else [])
        if not granted.intersection(any_of):
            raise refuse.permission_required(" or ".join(any_of))

    def enter(self, ad_account: SandboxAdAccount | None, *, usage_type: str | None = None) -> None:
        """Roll the fault dice for this call (once), on the ad account's switch if any."""
        if self.scope_id is not None:
            return
        self.scope_id = ad_account.act_id if ad_account else ""
        self.usage_type = usage_type or self.usage_type
        self.verdict = faults.roll(faults.faults_for(ad_account), scope_id=self.scope_id, usage_type=usage_type)

    def account_role(self, account_id: str) -> tuple[SandboxAdAccount, SandboxAdAccountRole]:
        """The ad account and the person's role on it; no role looks like no object (100/33)."""
        person = self.person()
        role = (
            SandboxAdAccountRole.objects.select_related("ad_account__business")
            .filter(person=person, ad_account__account_id=account_id)
            .first()
        )
        if role is None:
            raise refuse.object_missing(self.method, f"act_{account_id}")
        return role.ad_account, role

    def fields(self, *, default: Sequence[str], known: Iterable[str], node_type: str) -> dict[str, list[str]]:
        """`a,b,c{x,y}` -> {"a": [], "b": [], "c": ["x", "y"]}; unknown fields refused like Meta."""
        requested = parse_fields(str(self.params.get("fields") or "")) or {name: [] for name in default}
        allowed = set(known)
        for name in requested:
            if name not in allowed:
                raise refuse.nonexisting_field(name, node_type)
        return requested

    def json_param(self, name: str) -> Any:
        value = self.params.get(name)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                return json.loads(value)
            except ValueError:
                raise refuse.invalid_parameter(f"Param {name} must be valid JSON") from None
        return value

    def page(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Meta's cursor paging over an in-memory list."""
        try:
            limit = min(max(int(self.params.get("limit") or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
        except ValueError:
            raise refuse.invalid_parameter("Param limit must be an integer") from None
        start = _cursor_offset(self.params.get("after"))
        window = list(rows[start : start + limit])
        body: dict[str, Any] = {"data": window}
        if window:
            paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(window))}}
            if start + limit < len(rows):
                query = {k: v for k, v in self.params.items() if k not in {"access_token", "appsecret_proof"}}
                query["after"] = paging["cursors"]["after"]
                paging["next"] = self.request.build_absolute_uri(self.request.path) + "?" + urlencode(query)
            body["paging"] = paging
        return body


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _cursor_offset(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(str(cursor).encode()).decode()
        return max(int(text.removeprefix("offset:")), 0)
    except ValueError:
        raise refuse.invalid_parameter("Invalid cursor") from None


def parse_fields(text: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    depth, current = 0, ""
    for char in text + ",":
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "," and depth == 0:
            name, _, rest = current.strip().partition("{")
            if name:
                fields[name.strip()] = [part.strip() for part in rest.rstrip("}").split(",") if part.strip()]
            current = ""
        else:
            current += char
    return fields


def _usage_headers(scope_id: str | None, usage_type: str = "custom_audience") -> dict[str, str]:
    headers = {"X-App-Usage": json.dumps({"call_count": 1, "total_cputime": 1, "total_time": 1})}
    if scope_id:
        digits = scope_id.removeprefix("act_")
        headers["X-Ad-Account-Usage"] = json.dumps({"acc_id_util_pct": 1, "reset_time_duration": 0})
        headers["X-Business-Use-Case-Usage"] = json.dumps(
            {
                digits: [
                    {
                        "type": usage_type,
                        "call_count": 1,
                        "total_cputime": 1,
                        "total_time": 1,
                        "estimated_time_to_regain_access": 0,
                    }
                ]
            }
        )
    return headers


Handler = Callable[..., Any]


def graph_view(
    *, methods: set[str], authenticate: bool = True, account_scoped: bool = False, payload_rows: bool = False
) -> Callable:
    """Wrap an endpoint: `handler(graph_request, **url_kwargs)` returns the JSON body.

    `payload_rows`: the endpoint takes uploaded rows in `payload`; a large JSON body may then
    be checked by a payload worker, and `payload` is a `payload_workers.CheckedPayload`.
    """

    def decorate(handler: Handler) -> Callable:
        @csrf_exempt
        @functools.wraps(handler)
        def view(request: HttpRequest, version: str, **kwargs: Any) -> JsonResponse:
            trace_id = new_trace_id()
            graph_request: GraphRequest | None = None
            try:
                version_check(version)
                if request.method not in methods:
                    raise refuse.object_missing(request.method or "GET", request.path.rsplit("/", 1)[-1])
                params = dict(request.GET.items())
                if request.method in {"POST", "DELETE"}:
                    params.update(_read_body(request, payload_rows=payload_rows))
                graph_request = GraphRequest(request=request, version=version, params=params, trace_id=trace_id)
                if authenticate:
                    graph_request.authenticate()
                if not account_scoped:
                    graph_request.enter(None)
                response = JsonResponse(handler(graph_request, **kwargs), safe=False)
                headers = _usage_headers(graph_request.scope_id, graph_request.usage_type)
            except GraphRefusal as refusal:
                response = JsonResponse(refusal.envelope(trace_id), status=refusal.http_status)
                headers = refusal.headers
            if graph_request is not None and graph_request.verdict.hold_answer_seconds:
                # The work is done and committed; the answer comes too late for the client.
                time.sleep(graph_request.verdict.hold_answer_seconds)
            response["Content-Type"] = JSON_CONTENT_TYPE
            response["x-fb-trace-id"] = trace_id
            for name, value in headers.items():
                response[name] = value
            return response

        return view

    return decorate
