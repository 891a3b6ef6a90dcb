"""The login dialog (as on www.facebook.com) and the token endpoints (as on graph.facebook.com).

https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow/
https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived/
https://developers.facebook.com/docs/graph-api/reference/debug_token/
"""

from __future__ import annotations

import hmac
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone

from integrations.sandbox import conf, services
from integrations.sandbox import graph_errors as refuse
from integrations.sandbox.graph_errors import GraphRefusal
from integrations.sandbox.models import SandboxAuthCode, SandboxPerson, SandboxToken
from integrations.sandbox.tokens import (
    LONG_LIVED,
    SHORT_LIVED,
    random_text,
    token_digest,
    token_mint,
    token_resolve,
)
from integrations.sandbox.views.base import GraphRequest, graph_view, version_check

CODE_LIFETIME = timedelta(minutes=10)
_SCOPE_SPLIT = re.compile(r"[,\s]+")


# --- The dialog -----------------------------------------------------------------------------


def _dialog_error(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "sandbox/dialog_error.html", {"message": message}, status=status)


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def oauth_dialog(request: HttpRequest, version: str) -> HttpResponse:
    """Choose a sandbox person, grant or decline each scope, accept the Terms or not."""
    try:
        version_check(version)
    except GraphRefusal as refusal:
        return _dialog_error(request, refusal.message)
    source = request.POST if request.method == "POST" else request.GET
    client_id = source.get("client_id", "")
    redirect_uri = source.get("redirect_uri", "")
    state = source.get("state", "")
    requested = [scope for scope in _SCOPE_SPLIT.split(source.get("scope", "")) if scope]
    if client_id != conf.app_id():
        return _dialog_error(request, "Invalid App ID: the app is not known to this sandbox.")
    if urlsplit(redirect_uri).scheme not in {"http", "https"}:
        return _dialog_error(request, "URL blocked: redirect_uri must be an absolute http(s) URL.")
    people = SandboxPerson.objects.prefetch_related("roles__ad_account__business")
    if request.method != "POST":
        context = {
            "people": people,
            "scopes": requested,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": source.get("scope", ""),
        }
        return render(request, "sandbox/dialog.html", context)
    if request.POST.get("action") != "allow":
        return HttpResponseRedirect(
            _with_query(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_code": "200",
                    "error_description": "Permissions error",
                    "error_reason": "user_denied",
                    "state": state,
                },
            )
        )
    person = people.filter(fb_id=request.POST.get("person", "")).first()
    if person is None:
        return _dialog_error(request, "Choose a person to continue as.")
    granted = [scope for scope in requested if request.POST.get(f"grant_{scope}")]
    declined = [scope for scope in requested if scope not in granted]
    services.oauth_grant_record(person=person, accept_terms=bool(request.POST.get("accept_terms")))
    code = _code_issue(person=person, redirect_uri=redirect_uri, scopes=granted, declined=declined)
    # Meta appends an empty fragment to the redirect.
    return HttpResponseRedirect(_with_query(redirect_uri, {"code": code, "state": state}) + "#_=_")


def _code_issue(*, person: SandboxPerson, redirect_uri: str, scopes: list[str], declined: list[str]) -> str:
    code = "AQ" + random_text(120)
    SandboxAuthCode.objects.create(
        digest=token_digest(code),
        person=person,
        app_id=conf.app_id(),
        redirect_uri=redirect_uri,
        scopes=scopes,
        declined_scopes=declined,
        expires_at=timezone.now() + CODE_LIFETIME,
    )
    return code


# --- Token endpoints ------------------------------------------------------------------------------


def _app_credentials_check(params: dict[str, Any]) -> None:
    if str(params.get("client_id") or "") != conf.app_id():
        raise GraphRefusal("Error validating application. Invalid application ID.", code=101)
    if not hmac.compare_digest(str(params.get("client_secret") or ""), conf.app_secret()):
        raise GraphRefusal("Error validating client secret.", code=1)


def _token_answer(token: str, lifetime: timedelta | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"access_token": token, "token_type": "bearer"}
    if lifetime is not None:
        answer["expires_in"] = int(lifetime.total_seconds())
    return answer


@graph_view(methods={"GET", "POST"}, authenticate=False)
def oauth_access_token(graph: GraphRequest) -> dict[str, Any]:
    params = graph.params
    _app_credentials_check(params)
    grant_type = params.get("grant_type")
    if grant_type == "client_credentials":
        token, _ = token_mint(kind=SandboxToken.Kind.APP, person=None, scopes=[])
        return _token_answer(token, None)
    if grant_type == "fb_exchange_token":
        short = token_resolve(params.get("fb_exchange_token"))
        if short is None or short.person is None:
            raise refuse.invalid_parameter("fb_exchange_token must be a user access token")
        token, _ = token_mint(
            kind=SandboxToken.Kind.USER_LONG,
            person=short.person,
            scopes=short.scopes,
            declined_scopes=short.declined_scopes,
            lifetime=LONG_LIVED,
        )
        return _token_answer(token, LONG_LIVED)
    return _code_exchange(params)


def _code_exchange(params: dict[str, Any]) -> dict[str, Any]:
    code = str(params.get("code") or "")
    if not code:
        raise refuse.invalid_parameter("Missing code parameter.")
    record = SandboxAuthCode.objects.select_related("person").filter(digest=token_digest(code)).first()
    if record is None:
        raise GraphRefusal("Invalid verification code format.", code=100, subcode=36009)
    if record.used_at is not None:
        raise GraphRefusal("This authorization code has been used.", code=100, subcode=36009)
    if record.expires_at <= timezone.now():
        raise GraphRefusal("This authorization code has expired.", code=100, subcode=36007)
    if str(params.get("redirect_uri") or "") != record.redirect_uri:
        raise GraphRefusal(
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you "
            "used in the OAuth dialog request",
            code=100,
            subcode=36008,
        )
    updated = SandboxAuthCode.objects.filter(pk=record.pk, used_at__isnull=True).update(used_at=timezone.now())
    if not updated:  # two exchanges of one code at once: only one wins
        raise GraphRefusal("This authorization code has been used.", code=100, subcode=36009)
    token, _ = token_mint(
        kind=SandboxToken.Kind.USER_SHORT,
        person=record.person,
        scopes=record.scopes,
        declined_scopes=record.declined_scopes,
        lifetime=SHORT_LIVED,
    )
    return _token_answer(token, SHORT_LIVED)


@graph_view(methods={"GET"})
def debug_token(graph: GraphRequest) -> dict[str, Any]:
    """Inspect `input_token` with an app token (or a user token of the same app)."""
    input_token = str(graph.params.get("input_token") or "")
    if not input_token:
        raise refuse.invalid_parameter("The parameter input_token is required")
    record = SandboxToken.objects.select_related("person").filter(digest=token_digest(input_token)).first()
    if record is None:
        return {
            "data": {
                "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
                "is_valid": False,
                "scopes": [],
            }
        }
    data: dict[str, Any] = {
        "app_id": record.app_id,
        "type": "APP" if record.kind == SandboxToken.Kind.APP else "USER",
        "application": "Cohort sync (sandbox app)",
        "issued_at": int(record.issued_at.timestamp()),
        "expires_at": int(record.expires_at.timestamp()) if record.expires_at else 0,
        "data_access_expires_at": int((record.issued_at + timedelta(days=90)).timestamp()),
        "is_valid": True,
        "scopes": list(record.scopes),
        "granular_scopes": [{"scope": scope} for scope in record.scopes],
    }
    if record.person_id:
        data["user_id"] = record.person.fb_id
    try:
        token_resolve(input_token)
    except GraphRefusal as refusal:
        data["is_valid"] = False
        data["error"] = {"code": refusal.code, "message": refusal.message, "subcode": refusal.subcode}
    return {"data": data}
