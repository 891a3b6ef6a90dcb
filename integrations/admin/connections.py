"""Admin for Facebook connections: their state, the fix for each problem, and the buttons.

The page is read-only: connections change only through the connect, ad-account,
check, disconnect and reconnect pages (integrations/views.py), mounted here.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path
from django.utils.html import format_html

from integrations import views
from integrations.access import Role, has_project_role
from integrations.admin_base import ProjectScopedAdmin
from integrations.connections import connection_expiry_warning
from integrations.models import FacebookConnection


def connection_panel_context(request: HttpRequest, connection: FacebookConnection) -> dict:
    """What the connection panel shows (shared by the connection and project pages)."""
    return {
        "connection": connection,
        "expiry_warning": connection_expiry_warning(connection=connection),
        "can_manage": has_project_role(request.user, connection.project_id, Role.ADMIN),
        "can_check": has_project_role(request.user, connection.project_id, Role.OPERATOR),
    }


@admin.register(FacebookConnection)
class FacebookConnectionAdmin(ProjectScopedAdmin):
    edit_role = Role.ADMIN
    change_form_template = "admin/integrations/facebookconnection/change_form.html"
    list_display = [
        "__str__",
        "status",
        "problem_summary",
        "terms_status",
        "token_source",
        "facebook_user_name",
        "business_name",
        "token_expires_at",
        "last_checked_at",
    ]
    list_filter = ["status", "terms_status", "token_source", "project"]
    list_select_related = ["project"]
    search_fields = ["ad_account_name", "ad_account_id", "business_name", "facebook_user_name", "project__name"]
    # The token never appears in a form or page; it is written by the connect flows only.
    exclude = ["access_token"]
    readonly_fields = [
        "project",
        "connected_by",
        "connected_at",
        "token_source",
        "facebook_user_id",
        "facebook_user_name",
        "token_expires_at",
        "granted_scopes",
        "ad_account_id",
        "ad_account_name",
        "ad_account_currency",
        "business_id",
        "business_name",
        "terms_status",
        "status",
        "problem_code",
        "problem_message",
        "problem_fix",
        "last_checked_at",
    ]

    @admin.display(description="Problem and fix")
    def problem_summary(self, obj: FacebookConnection) -> str:
        warning = connection_expiry_warning(connection=obj)
        if obj.status == FacebookConnection.Status.ACTIVE and not warning:
            return "-"
        if obj.status == FacebookConnection.Status.ACTIVE:
            return warning
        return format_html("{}<br><strong>Fix:</strong> {}", obj.problem_message, obj.problem_fix)

    # A connection is made with "Continue with Facebook" (or a pasted token) on the
    # project page, changed by the buttons on its page, and never deleted (its jobs and
    # history stay; Disconnect erases the token).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = "integrations_facebookconnection"
        return [
            path("<int:object_id>/ad-account/", wrap(views.connection_ad_account), name=f"{name}_ad_account"),
            path("<int:object_id>/check/", wrap(views.connection_check_again), name=f"{name}_check"),
            path("<int:object_id>/disconnect/", wrap(views.connection_disconnect_page), name=f"{name}_disconnect"),
            path("<int:object_id>/reconnect/", wrap(views.connection_reconnect), name=f"{name}_reconnect"),
            path(
                "<int:object_id>/reconnect-token/",
                wrap(views.connection_reconnect_token),
                name=f"{name}_reconnect_token",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)  # 404 outside the person's projects
        extra_context = {**(extra_context or {}), **connection_panel_context(request, obj)}
        extra_context["held_jobs"] = obj.sync_jobs.filter(status="needs_attention").count()
        return super().change_view(request, object_id, form_url, extra_context)


# allauth's SocialToken admin shows the start of each token in plain text; tokens are
# not stored there anyway (SOCIALACCOUNT_STORE_TOKENS = False), and the page must not exist.
try:
    from allauth.socialaccount.models import SocialToken

    admin.site.unregister(SocialToken)
except (ImportError, admin.sites.NotRegistered):  # pragma: no cover - allauth layout changed
    pass
