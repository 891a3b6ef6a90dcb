"""Admin for Facebook connections (project admins only)."""

from __future__ import annotations

from django.contrib import admin

from integrations.access import Role
from integrations.admin_base import ProjectScopedAdmin
from integrations.models import FacebookConnection


@admin.register(FacebookConnection)
class FacebookConnectionAdmin(ProjectScopedAdmin):
    edit_role = Role.ADMIN
    list_display = [
        "__str__",
        "status",
        "terms_status",
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

    def get_readonly_fields(self, request, obj=None):
        # The project is chosen when connecting and never moved afterwards.
        return [*self.readonly_fields, "project"] if obj is not None else self.readonly_fields


# allauth's SocialToken admin shows the start of each token in plain text; tokens are
# not stored there anyway (SOCIALACCOUNT_STORE_TOKENS = False), and the page must not exist.
try:
    from allauth.socialaccount.models import SocialToken

    admin.site.unregister(SocialToken)
except (ImportError, admin.sites.NotRegistered):  # pragma: no cover - allauth layout changed
    pass
