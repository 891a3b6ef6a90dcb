"""Amplitude's behavioral cohorts API at its own paths, and the one-minute "S3" file links.

Basic auth with the project's API key and secret key on every API call; 401 and 429
answers on demand (the project's switches in the admin, or AMPLITUDE_SANDBOX_* variables).
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from integrations.sandbox.amplitude import conf, exports, services
from integrations.sandbox.amplitude.models import SandboxAmplitudeProject, SandboxCohort, SandboxExport

Handler = Callable[..., HttpResponse]


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": {"http_code": status, "message": message}}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _basic_auth(request: HttpRequest) -> tuple[str, str] | None:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def amplitude_api(view: Handler) -> Handler:
    """Auth, the failure switches, then the view with the caller's project."""

    @functools.wraps(view)
    @require_GET
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        credentials = _basic_auth(request)
        project = services.sandbox_project_for_keys(*credentials) if credentials else None
        if project is None or project.refuse_auth or conf.refuse_auth():
            return _error(401, "Invalid API key or secret key", WWW_Authenticate='Basic realm="Amplitude"')
        if services.sandbox_throttle_take(project):
            return _error(
                429, "Too many concurrent requests: at most 5 are allowed per project.", Retry_After="1"
            )
        return view(request, project, *args, **kwargs)

    return wrapper


@amplitude_api
def cohorts_list(request: HttpRequest, project: SandboxAmplitudeProject) -> HttpResponse:
    """GET /api/3/cohorts: the project's cohorts as COHORT_OBJECTs."""
    include_sync = request.GET.get("includeSyncInfo", "").lower() == "true"
    cohorts = [_cohort_object(cohort, include_sync=include_sync) for cohort in project.cohorts.order_by("id")]
    return JsonResponse({"cohorts": cohorts})


def _cohort_object(cohort: SandboxCohort, *, include_sync: bool) -> dict[str, Any]:
    last_computed = services.cohort_last_computed(cohort)
    created = int(cohort.created_at.timestamp())
    item = {
        "appId": cohort.project.app_id,
        "archived": cohort.archived,
        "definition": {"version": 3, "countGroup": {"name": "User"}, "cohortType": "UNIQUES", "andClauses": []},
        "description": cohort.description,
        "finished": True,
        "id": cohort.cohort_id,
        "name": cohort.name,
        "owners": ["sandbox-owner@example.com"],
        "viewers": [],
        "published": True,
        "size": cohort.size,
        "type": "redshift",
        "lastMod": max(created, int(cohort.changed_at.timestamp())),
        "createdAt": created,
        "lastComputed": last_computed,
        "hidden": False,
        "metadata": [],
        "view_count": 0,
        "popularity": 0,
        "last_viewed": None,
        "chart_id": None,
        "edit_id": None,
        "is_predictive": False,
        "is_official_content": False,
        "location_id": None,
        "shortcut_ids": [],
    }
    if include_sync:
        item["syncMetadata"] = []
    return item


@amplitude_api
def cohort_request(request: HttpRequest, project: SandboxAmplitudeProject, cohort_id: str) -> HttpResponse:
    """GET /api/5/cohorts/request/<id>: start an export; 202 with its request id."""
    cohort = SandboxCohort.objects.filter(project=project, cohort_id=cohort_id).select_related("project").first()
    if cohort is None:
        return _error(404, f"Cohort {cohort_id} not found")
    prop_keys: list[str] = []
    if request.GET.get("props") == "1":
        prop_keys = list(dict.fromkeys(request.GET.getlist("propKeys"))) or list(exports.PROPERTY_NAMES)
    export = services.sandbox_export_create(cohort=cohort, prop_keys=prop_keys)
    return JsonResponse({"request_id": export.request_id, "cohort_id": cohort.cohort_id}, status=202)


def _export_of(project: SandboxAmplitudeProject, request_id: str) -> SandboxExport | None:
    return (
        SandboxExport.objects.select_related("cohort__project")
        .filter(request_id=request_id, cohort__project=project)
        .first()
    )


@amplitude_api
def cohort_request_status(request: HttpRequest, project: SandboxAmplitudeProject, request_id: str) -> HttpResponse:
    """GET /api/5/cohorts/request-status/<request_id>: 202 while in progress, then 200."""
    export = _export_of(project, request_id)
    if export is None:
        return _error(404, f"Request {request_id} not found")
    body = {"request_id": export.request_id, "cohort_id": export.cohort.cohort_id}
    if services.sandbox_export_poll(export=export):
        return JsonResponse({**body, "async_status": "JOB COMPLETED"})
    return JsonResponse({**body, "async_status": "JOB INPROGRESS"}, status=202)


@amplitude_api
def cohort_request_file(request: HttpRequest, project: SandboxAmplitudeProject, request_id: str) -> HttpResponse:
    """GET /api/5/cohorts/request/<request_id>/file: small files inline, large ones via S3."""
    export = _export_of(project, request_id)
    if export is None:
        return _error(404, f"Request {request_id} not found")
    path = exports.export_path(export.file_name)
    if export.polls <= conf.status_polls(project.status_polls) or not path.is_file():
        return _error(400, f"Request {request_id} is not complete yet: poll request-status first")
    if path.stat().st_size > conf.inline_max_bytes(project.inline_max_bytes):
        link = reverse("amplitude_sandbox_s3_object", kwargs={"file_name": export.file_name})
        query = urlencode(exports.s3_query(export.file_name))
        return HttpResponseRedirect(request.build_absolute_uri(f"{link}?{query}"))
    # Inline: gzip as HTTP content coding, which HTTP clients undo on their own.
    response = FileResponse(path.open("rb"), content_type="text/csv; charset=utf-8")
    response["Content-Encoding"] = "gzip"
    response["Content-Disposition"] = f'attachment; filename="{export.cohort.cohort_id}.csv"'
    return response


@require_GET
def s3_object(request: HttpRequest, file_name: str) -> HttpResponse:
    """The pre-signed "S3" link: valid one minute, and refusing a second auth mechanism like S3."""
    if "HTTP_AUTHORIZATION" in request.META:
        return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                         "parameter, Signature query string parameter or the Authorization header should be specified")
    problem = exports.s3_link_valid(
        file_name, deadline=request.GET.get("X-Amz-Deadline", ""), signature=request.GET.get("X-Amz-Signature", "")
    )
    if problem == "AccessDenied":
        return _s3_error(403, problem, "Request has expired")
    if problem:
        return _s3_error(403, problem, "The request signature we calculated does not match the signature you provided")
    path = exports.export_path(file_name)
    if not path.is_file():
        return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
    # S3 serves the object's bytes as stored: a gzip file, as Amplitude's exports are.
    return FileResponse(path.open("rb"), content_type="binary/octet-stream")


def _s3_error(status: int, code: str, message: str) -> HttpResponse:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return HttpResponse(body, status=status, content_type="application/xml")
