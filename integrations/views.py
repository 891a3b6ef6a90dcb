"""The connection pages, mounted inside the admin (see `get_urls` in integrations/admin/).

Thin doors into `integrations.connections`: each view finds the object among the
person's projects (404 otherwise, so nobody learns what exists elsewhere), checks the
role (403), calls one service and says what happened. Every state change is a POST
(the admin's CSRF protection applies).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from integrations.access import Role, has_project_role, project_ids_with_role
from integrations.connections import (
    CheckTrigger,
    ConnectError,
    connection_ad_account_choose,
    connection_ad_accounts_list,
    connection_check,
    connection_disconnect,
    connection_expiry_warning,
    connection_system_user_token_submit,
)
from integrations.facebook.oauth import connection_next_url, facebook_connect_redirect
from integrations.models import FacebookConnection, Project


def _visible(request: HttpRequest, queryset, object_id, project_field: str):
    ids = project_ids_with_role(request.user, Role.VIEWER)
    if ids is not None:
        queryset = queryset.filter(**{f"{project_field}__in": ids})
    return get_object_or_404(queryset, pk=object_id)


def _visible_project(request: HttpRequest, object_id) -> Project:
    return _visible(request, Project.objects.all(), object_id, "pk")


def _visible_connection(request: HttpRequest, object_id) -> FacebookConnection:
    return _visible(request, FacebookConnection.objects.select_related("project"), object_id, "project_id")


def _require(request: HttpRequest, project_id: int, role: str) -> None:
    if not has_project_role(request.user, project_id, role):
        raise PermissionDenied(f"Only a project {role} may do this.")


def _project_url(project_id: int) -> str:
    return reverse("admin:integrations_project_change", args=[project_id])


def _connection_url(connection: FacebookConnection) -> str:
    return reverse("admin:integrations_facebookconnection_change", args=[connection.pk])


def _page(request: HttpRequest, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {**admin.site.each_context(request), "title": title, "opts": FacebookConnection._meta, **context},
    )


# --- Continue with Facebook / reconnect -----------------------------------------------------


@require_POST
def project_facebook_connect(request: HttpRequest, object_id: str) -> HttpResponse:
    project = _visible_project(request, object_id)
    _require(request, project.pk, Role.ADMIN)
    return facebook_connect_redirect(request, project=project)


@require_POST
def connection_reconnect(request: HttpRequest, object_id: str) -> HttpResponse:
    connection = _visible_connection(request, object_id)
    _require(request, connection.project_id, Role.ADMIN)
    return facebook_connect_redirect(request, project=connection.project, connection=connection)


class SystemUserTokenForm(forms.Form):
    token = forms.CharField(
        label="System-user token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 60}),
        help_text=(
            "Business settings > Users > System users > Generate new token, for this tool's app, with "
            "ads_management, business_management and ads_read. It is checked with Facebook, stored "
            "encrypted and never shown again."
        ),
    )


def _system_user_token_page(
    request: HttpRequest, project: Project, connection: FacebookConnection | None
) -> HttpResponse:
    form = SystemUserTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = connection_system_user_token_submit(
                project=project,
                token=form.cleaned_data["token"],
                actor=request.user,
                connection=connection,
                request=request,
            )
        except ConnectError as error:
            form.add_error("token", str(error))
        else:
            messages.success(request, "The system-user token was checked with Facebook and saved.")
            return HttpResponseRedirect(connection_next_url(connection))
    return _page(
        request,
        "admin/integrations/system_user_token.html",
        "Paste a system-user token",
        project=project,
        connection=connection,
        form=form,
    )


@require_http_methods(["GET", "POST"])
def project_system_user_token(request: HttpRequest, object_id: str) -> HttpResponse:
    project = _visible_project(request, object_id)
    _require(request, project.pk, Role.ADMIN)
    return _system_user_token_page(request, project, None)


@require_http_methods(["GET", "POST"])
def connection_reconnect_token(request: HttpRequest, object_id: str) -> HttpResponse:
    connection = _visible_connection(request, object_id)
    _require(request, connection.project_id, Role.ADMIN)
    return _system_user_token_page(request, connection.project, connection)


# --- Choosing the ad account ---------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def connection_ad_account(request: HttpRequest, object_id: str) -> HttpResponse:
    connection = _visible_connection(request, object_id)
    _require(request, connection.project_id, Role.ADMIN)
    if request.method == "POST":
        try:
            connection = connection_ad_account_choose(
                connection=connection,
                ad_account_id=request.POST.get("ad_account_id", ""),
                actor=request.user,
                request=request,
            )
        except ConnectError as error:
            messages.error(request, str(error))
            return HttpResponseRedirect(request.path)
        _say_check_outcome(request, connection)
        return HttpResponseRedirect(_connection_url(connection))
    try:
        accounts = connection_ad_accounts_list(connection=connection)
    except ConnectError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(_connection_url(connection))
    return _page(
        request,
        "admin/integrations/choose_ad_account.html",
        "Choose the ad account",
        connection=connection,
        accounts=accounts,
    )


# --- Check again and disconnect ---------------------------------------------------------------


@require_POST
def connection_check_again(request: HttpRequest, object_id: str) -> HttpResponse:
    connection = _visible_connection(request, object_id)
    # Operators run syncs, so they may ask whether the connection works now.
    _require(request, connection.project_id, Role.OPERATOR)
    if not connection.ad_account_id or not connection.access_token:
        messages.warning(request, connection.problem_fix or "Reconnect first.")
        return HttpResponseRedirect(_connection_url(connection))
    result = connection_check(
        connection=connection, actor=request.user, request=request, trigger=CheckTrigger.CHECK_AGAIN
    )
    if result.unavailable:
        messages.warning(request, result.unavailable)
    else:
        _say_check_outcome(request, connection)
    return HttpResponseRedirect(_connection_url(connection))


@require_http_methods(["GET", "POST"])
def connection_disconnect_page(request: HttpRequest, object_id: str) -> HttpResponse:
    connection = _visible_connection(request, object_id)
    _require(request, connection.project_id, Role.ADMIN)
    if request.method == "POST":
        outcome = connection_disconnect(connection=connection, actor=request.user, request=request)
        text = "Disconnected: the token was erased"
        text += " and the app's access was revoked at Facebook." if outcome.revoked else f". {outcome.revoke_note}"
        if outcome.jobs_held:
            text += f" {outcome.jobs_held} sync job(s) on hold until someone reconnects."
        messages.success(request, text)
        return HttpResponseRedirect(_connection_url(connection))
    return _page(
        request,
        "admin/integrations/disconnect_confirm.html",
        "Disconnect Facebook",
        connection=connection,
        jobs_count=connection.sync_jobs.filter(enabled=True).count(),
    )


def _say_check_outcome(request: HttpRequest, connection: FacebookConnection) -> None:
    connection.refresh_from_db()
    if connection.status == FacebookConnection.Status.ACTIVE:
        messages.success(request, "Every check passed: syncs on this ad account can run.")
    else:
        messages.warning(request, f"{connection.problem_message} Fix: {connection.problem_fix}")
    warning = connection_expiry_warning(connection=connection)
    if warning:
        messages.warning(request, warning)

