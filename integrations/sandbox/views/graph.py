"""The sandbox's Graph API endpoints (thin: checks like Meta's, then a service call)."""

from __future__ import annotations

from typing import Any

from integrations.sandbox import graph_errors as refuse
from integrations.sandbox import insights, services, synthetic_ads
from integrations.sandbox.graph_objects import (
    AD_ACCOUNT_FIELDS,
    AUDIENCE_FIELDS,
    SESSION_FIELDS,
    ad_account_json,
    audience_json,
    session_json,
)
from integrations.sandbox.models import (
    SandboxAdAccount,
    SandboxAdAccountRole,
    SandboxAudience,
    SandboxReportRun,
    SandboxUploadSession,
)
from integrations.sandbox.payload_workers import CheckedPayload
from integrations.sandbox.rows import parse_payload, parse_session
from integrations.sandbox.views.base import GraphRequest, graph_view

READ_SCOPES = ("ads_read", "ads_management")
INSIGHTS_USAGE = "ads_insights"  # Meta's business-use-case bucket of insights calls
WRITE_SCOPE = "ads_management"
CUSTOMER_FILE_SOURCES = {"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"}
Operation = SandboxUploadSession.Operation


# --- The person ---------------------------------------------------------------------------


@graph_view(methods={"GET"})
def me(graph: GraphRequest) -> dict[str, Any]:
    person = graph.person()
    fields = graph.fields(default=["id", "name"], known={"id", "name"}, node_type="User")
    values = {"id": person.fb_id, "name": person.name}
    return {name: values[name] for name in fields}


@graph_view(methods={"GET", "DELETE"})
def me_permissions(graph: GraphRequest) -> dict[str, Any]:
    person = graph.person()
    token = graph.token
    assert token is not None
    if graph.method == "DELETE":
        services.permissions_revoke(person=person, app_id=token.app_id)
        return {"success": True}
    rows = [{"permission": "public_profile", "status": "granted"}]
    rows += [{"permission": scope, "status": "granted"} for scope in token.scopes]
    rows += [{"permission": scope, "status": "declined"} for scope in token.declined_scopes]
    return graph.page(rows)


@graph_view(methods={"GET"})
def me_adaccounts(graph: GraphRequest) -> dict[str, Any]:
    person = graph.person()
    graph.require_scope(*READ_SCOPES)
    fields = graph.fields(default=["id", "account_id"], known=AD_ACCOUNT_FIELDS, node_type="AdAccount")
    roles = (
        SandboxAdAccountRole.objects.filter(person=person)
        .select_related("ad_account__business")
        .order_by("ad_account__account_id")
    )
    return graph.page([ad_account_json(role.ad_account, role, fields) for role in roles])


# --- Ad accounts ------------------------------------------------------------------------------


@graph_view(methods={"GET"}, account_scoped=True)
def ad_account(graph: GraphRequest, account_id: str) -> dict[str, Any]:
    account, role = graph.account_role(account_id)
    graph.enter(account)
    graph.require_scope(*READ_SCOPES)
    fields = graph.fields(default=["id", "account_id"], known=AD_ACCOUNT_FIELDS, node_type="AdAccount")
    return ad_account_json(account, role, fields)


@graph_view(methods={"GET", "POST"}, account_scoped=True)
def ad_account_custom_audiences(graph: GraphRequest, account_id: str) -> dict[str, Any]:
    account, role = graph.account_role(account_id)
    graph.enter(account)
    if graph.method == "GET":
        graph.require_scope(*READ_SCOPES)
        fields = graph.fields(default=["id"], known=AUDIENCE_FIELDS, node_type="CustomAudience")
        audiences = account.audiences.filter(deleted_at__isnull=True).select_related("ad_account").order_by("pk")
        return graph.page([audience_json(audience, fields) for audience in audiences])
    _may_write_audiences(graph, account, role, creating=True, audience_id=None)
    name = str(graph.params.get("name") or "").strip()
    if not name:
        raise refuse.invalid_parameter("The parameter name is required")
    subtype = str(graph.params.get("subtype") or "CUSTOM")
    if subtype != "CUSTOM":
        raise refuse.invalid_parameter(f"The sandbox creates customer-file audiences only (subtype {subtype})")
    source = str(graph.params.get("customer_file_source") or "")
    if source not in CUSTOMER_FILE_SOURCES:
        raise refuse.invalid_parameter("Missing parameter(s): customer_file_source")
    audience = services.audience_create(
        ad_account=account,
        name=name,
        description=str(graph.params.get("description") or ""),
        subtype=subtype,
        customer_file_source=source,
    )
    return {"id": audience.fb_id}


@graph_view(methods={"GET", "POST"}, account_scoped=True)
def ad_account_insights(graph: GraphRequest, account_id: str) -> dict[str, Any]:
    account, _ = graph.account_role(account_id)
    graph.enter(account, usage_type=INSIGHTS_USAGE)
    graph.require_scope(*READ_SCOPES)
    if graph.method == "POST":
        insights.insights_params_parse(account, _plain_params(graph))  # refused at the start, like Meta
        run = services.report_run_create(ad_account=account, params=_plain_params(graph))
        insights.report_run_started(run)
        return {"report_run_id": run.fb_id}
    return graph.page(insights.insights_rows(account, _plain_params(graph)))


# Campaigns, ad sets and ads: the synthetic ones of `synthetic_ads` (read only).
CAMPAIGN_FIELDS = frozenset({"id", "name", "objective", "status", "effective_status", "account_id"})
ADSET_FIELDS = frozenset({"id", "name", "campaign_id", "status", "effective_status", "account_id", "targeting"})
AD_FIELDS = frozenset({"id", "name", "adset_id", "campaign_id", "status", "effective_status", "account_id"})


def _ad_objects(graph: GraphRequest, account_id: str, rows_of, known: frozenset[str], node_type: str) -> dict:
    account, _ = graph.account_role(account_id)
    graph.enter(account, usage_type="ads_management")
    graph.require_scope(*READ_SCOPES)
    fields = graph.fields(default=["id"], known=known, node_type=node_type)
    return graph.page([_pick(row, fields) for row in rows_of(account)])


def _pick(row: dict[str, Any], fields: dict[str, list[str]]) -> dict[str, Any]:
    """The fields asked for; `targeting{custom_audiences}` keeps only those keys of the struct."""
    out: dict[str, Any] = {}
    for name, subfields in fields.items():
        if name not in row:
            continue
        value = row[name]
        if subfields and isinstance(value, dict):
            value = {key: value[key] for key in subfields if key in value}
        out[name] = value
    out.setdefault("id", row["id"])
    return out


@graph_view(methods={"GET"}, account_scoped=True)
def ad_account_campaigns(graph: GraphRequest, account_id: str) -> dict[str, Any]:
    return _ad_objects(graph, account_id, synthetic_ads.campaigns_json, CAMPAIGN_FIELDS, "Campaign")


@graph_view(methods={"GET"}, account_scoped=True)
def ad_account_adsets(graph: GraphRequest, account_id: str) -> dict[str, Any]:
    return _ad_objects(graph, account_id, synthetic_ads.adsets_json, ADSET_FIELDS, "AdSet")


@graph_view(methods={"GET"}, account_scoped=True)
def ad_account_ads(graph: GraphRequest, account_id: str) -> dict[str, Any]:
    return _ad_objects(graph, account_id, synthetic_ads.ads_json, AD_FIELDS, "Ad")


def _plain_params(graph: GraphRequest) -> dict[str, Any]:
    return {key: value for key, value in graph.params.items() if key not in {"access_token", "appsecret_proof"}}


def _may_write_audiences(
    graph: GraphRequest,
    account: SandboxAdAccount,
    role: SandboxAdAccountRole,
    *,
    creating: bool,
    audience_id: str | None,
) -> None:
    """The checks behind the three common errors, in the order Meta meets them."""
    graph.require_scope(WRITE_SCOPE)
    if not role.can_manage_audiences:
        raise (
            refuse.cannot_create_audience(account.act_id)
            if creating
            else refuse.cannot_update_audience(str(audience_id))
        )
    if account.business_id is None:
        raise refuse.no_business_manager(account.act_id, creating=creating)
    if not role.terms_accepted:
        raise refuse.terms_not_accepted(account.account_id, code=2663 if creating else 2655)


# --- Audiences and report runs -----------------------------------------------------------------


def _audience(graph: GraphRequest, object_id: str) -> tuple[SandboxAudience, SandboxAdAccountRole]:
    audience = SandboxAudience.objects.select_related("ad_account__business").filter(fb_id=object_id).first()
    if audience is None:
        raise refuse.object_missing(graph.method, object_id)
    role = SandboxAdAccountRole.objects.filter(person=graph.person(), ad_account=audience.ad_account).first()
    if role is None:
        raise refuse.object_missing(graph.method, object_id)
    graph.enter(audience.ad_account)
    return audience, role


@graph_view(methods={"GET", "DELETE"}, account_scoped=True)
def graph_object(graph: GraphRequest, object_id: str) -> dict[str, Any]:
    run = SandboxReportRun.objects.filter(fb_id=object_id).select_related("ad_account").first()
    if run is not None and graph.method == "GET":
        graph.account_role(run.ad_account.account_id)
        graph.enter(run.ad_account, usage_type=INSIGHTS_USAGE)
        return insights.report_run_status(run)
    audience, role = _audience(graph, object_id)
    if audience.deleted_at is not None:
        raise refuse.object_missing(graph.method, object_id)
    if graph.method == "DELETE":
        _may_write_audiences(graph, audience.ad_account, role, creating=False, audience_id=object_id)
        services.audience_delete(audience=audience)
        return {"success": True}
    graph.require_scope(*READ_SCOPES)
    fields = graph.fields(default=["id"], known=AUDIENCE_FIELDS, node_type="CustomAudience")
    return audience_json(audience, fields)


def _upload(graph: GraphRequest, object_id: str, operation: str) -> dict[str, Any]:
    audience, role = _audience(graph, object_id)
    if audience.deleted_at is not None:
        raise refuse.audience_deleted()
    _may_write_audiences(graph, audience.ad_account, role, creating=False, audience_id=object_id)
    if audience.flagged:
        raise refuse.audience_flagged()
    payload = graph.params.get("payload")
    parsed = payload.result() if isinstance(payload, CheckedPayload) else parse_payload(payload)
    session = parse_session(graph.params.get("session"))
    return services.members_upload(audience=audience, operation=operation, parsed=parsed, session_spec=session)


@graph_view(methods={"POST", "DELETE"}, account_scoped=True, payload_rows=True)
def audience_users(graph: GraphRequest, object_id: str) -> dict[str, Any]:
    return _upload(graph, object_id, Operation.ADD if graph.method == "POST" else Operation.REMOVE)


@graph_view(methods={"POST"}, account_scoped=True, payload_rows=True)
def audience_users_replace(graph: GraphRequest, object_id: str) -> dict[str, Any]:
    return _upload(graph, object_id, Operation.REPLACE)


@graph_view(methods={"GET"}, account_scoped=True)
def audience_sessions(graph: GraphRequest, object_id: str) -> dict[str, Any]:
    audience, _ = _audience(graph, object_id)
    if audience.deleted_at is not None:
        raise refuse.object_missing(graph.method, object_id)
    graph.require_scope(*READ_SCOPES)
    fields = graph.fields(default=sorted(SESSION_FIELDS), known=SESSION_FIELDS, node_type="CustomAudienceSession")
    sessions = audience.sessions.order_by("-started_at", "-pk")
    return graph.page([session_json(session, fields) for session in sessions])


@graph_view(methods={"GET"}, account_scoped=True)
def report_run_insights(graph: GraphRequest, object_id: str) -> dict[str, Any]:
    run = SandboxReportRun.objects.filter(fb_id=object_id).select_related("ad_account").first()
    if run is None:
        raise refuse.object_missing(graph.method, object_id)
    graph.account_role(run.ad_account.account_id)
    graph.enter(run.ad_account, usage_type=INSIGHTS_USAGE)
    graph.require_scope(*READ_SCOPES)
    return graph.page(insights.report_run_rows(run))


@graph_view(methods={"GET", "POST", "DELETE"}, authenticate=False)
def unknown_path(graph: GraphRequest, rest: str) -> dict[str, Any]:
    raise refuse.unknown_path(rest)
