"""django-allauth glue: Facebook is used only to *connect* a project to an ad account.

Nobody signs up or logs in with Facebook. The admin's "Continue with Facebook" (a
POST with the CSRF token) stores the pending project or connection in the session
and starts allauth's Facebook provider in the `connect` process; allauth runs the
dialog, checks the OAuth `state` and exchanges the code. Its `pre_social_login` hook
then lands here, where the token goes into `FacebookConnection.access_token`
(encrypted) through `integrations.connections`, and the flow stops with a redirect
to the next admin page.

Why the adapter hook rather than the `social_account_added`/`_updated` signals: the
signals fire only once allauth links the Facebook login to the staff user, and
allauth refuses that link when the same Facebook login is already linked to another
staff user (two colleagues sharing an ads login, or a reconnect as a colleague's
Facebook person). Stopping at `pre_social_login` serves every case the same way,
keeps allauth's tables free of tokens (its SocialToken table is off anyway), and
leaves nothing for allauth to save.
"""

from __future__ import annotations

import secrets
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from integrations.access import Role, has_project_role
from integrations.models import FacebookConnection, Project

PENDING_SESSION_KEY = "integrations.facebook_connect_pending"
PENDING_KEEP = 5  # several tabs may each have started a connect
STATE_DATA_KEY = "facebook_connect"
PROVIDER_ID = "facebook"


def facebook_connect_redirect(
    request: HttpRequest, *, project: Project, connection: FacebookConnection | None = None
) -> HttpResponse:
    """Remember what is being connected, then send the person to Facebook's dialog.

    The pending entry is keyed by a random id carried in allauth's (session-side)
    OAuth state, so two tabs connecting two projects cannot cross their results.
    """
    pending_id = secrets.token_urlsafe(16)
    pending: dict[str, Any] = dict(request.session.get(PENDING_SESSION_KEY) or {})
    pending[pending_id] = {
        "project_id": project.pk,
        "connection_id": connection.pk if connection else None,
        "user_id": request.user.pk,
        "started_at": timezone.now().isoformat(),
    }
    request.session[PENDING_SESSION_KEY] = dict(list(pending.items())[-PENDING_KEEP:])
    provider = get_social_adapter(request).get_provider(request, PROVIDER_ID)
    return provider.redirect(
        request,
        process=AuthProcess.CONNECT,
        next_url=_project_url(project.pk),
        data={STATE_DATA_KEY: pending_id},
    )


def _project_url(project_id: int) -> str:
    return reverse("admin:integrations_project_change", args=[project_id])


def _pending_pop(request: HttpRequest, state: dict[str, Any] | None) -> dict[str, Any] | None:
    data = (state or {}).get("data") or {}
    pending_id = data.get(STATE_DATA_KEY) if isinstance(data, dict) else None
    pending = dict(request.session.get(PENDING_SESSION_KEY) or {})
    entry = pending.pop(pending_id, None) if pending_id else None
    request.session[PENDING_SESSION_KEY] = pending
    return entry


def _refuse(request: HttpRequest, text: str, status: int = 403) -> ImmediateHttpResponse:
    response = render(request, "integrations/facebook_refused.html", {"message": text}, status=status)
    return ImmediateHttpResponse(response)


class ConnectOnlySocialAccountAdapter(DefaultSocialAccountAdapter):
    """Facebook connects ad accounts to projects; it never signs anybody up or in."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        token = sociallogin.token.token if sociallogin.token else ""
        if sociallogin.token is not None:
            # Nothing downstream may keep the plain token, whatever happens next.
            sociallogin.token.token = ""
            sociallogin.token.token_secret = ""
        if sociallogin.state.get("process") != AuthProcess.CONNECT:
            raise _refuse(request, "Signing in with Facebook is not available. Log in with your account here.")
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            raise _refuse(request, "Log in to the admin first, then connect Facebook from the project's page.")
        entry = _pending_pop(request, sociallogin.state)
        if entry is None or entry.get("user_id") != user.pk:
            raise _refuse(request, "This Facebook connection was not started from a project page here; start again.")
        raise ImmediateHttpResponse(_complete(request, entry, token))

    def on_authentication_error(
        self, request: HttpRequest, provider, error=None, exception=None, extra_context=None
    ) -> None:
        """Cancelled dialog, forged or replayed state, failed code exchange: back to the project."""
        state = (extra_context or {}).get("state")
        entry = _pending_pop(request, state) if state else None
        if entry is None or not getattr(request.user, "is_authenticated", False):
            return  # allauth's own error page (HTTP 401), which changes nothing
        cancelled = str(error) == "cancelled"
        messages.error(
            request,
            "Facebook connection cancelled; nothing was changed."
            if cancelled
            else "Facebook did not complete the connection; nothing was changed. Try again.",
        )
        raise ImmediateHttpResponse(HttpResponseRedirect(_project_url(entry["project_id"])))


def _complete(request: HttpRequest, entry: dict[str, Any], token: str) -> HttpResponse:
    from integrations.connections import ConnectError, connection_oauth_complete

    project_id = entry["project_id"]
    if not has_project_role(request.user, project_id, Role.ADMIN):
        return _refuse(request, "Only a project admin may connect Facebook to this project.").response
    project = Project.objects.filter(pk=project_id).first()
    connection = None
    if entry.get("connection_id"):
        connection = FacebookConnection.objects.filter(pk=entry["connection_id"], project_id=project_id).first()
    if project is None or (entry.get("connection_id") and connection is None):
        return _refuse(request, "The project or connection no longer exists.", status=404).response
    try:
        connection = connection_oauth_complete(
            project=project, connection=connection, short_lived_token=token, actor=request.user, request=request
        )
    except ConnectError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(_project_url(project_id))
    return HttpResponseRedirect(connection_next_url(connection))


def connection_next_url(connection: FacebookConnection) -> str:
    """After a token arrives: choose the ad account, or see the connection's checks."""
    if not connection.ad_account_id:
        return reverse("admin:integrations_facebookconnection_ad_account", args=[connection.pk])
    return reverse("admin:integrations_facebookconnection_change", args=[connection.pk])


class ClosedSignupAccountAdapter(DefaultAccountAdapter):
    """People are created by a superuser in the admin; allauth's signup page stays shut."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False
