"""The sandbox's admin page: its people and ad accounts, and every switch of the local Facebook.

The three common errors are switches on an ad account (its Business Manager, and per
person: the role and the Terms); token revocation and expiry are actions on tokens;
fault injection is a switch per ad account or a global one. Registered only when the
sandbox is on, and (with Django's model permissions) for superusers by default.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from integrations.sandbox import selectors, services
from integrations.sandbox.models import (
    SandboxAdAccount,
    SandboxAdAccountRole,
    SandboxAudience,
    SandboxBusiness,
    SandboxFaultSwitch,
    SandboxPerson,
    SandboxToken,
    SandboxUploadSession,
)


class RoleInline(admin.TabularInline):
    model = SandboxAdAccountRole
    extra = 0
    fields = ["person", "ad_account", "role", "terms_accepted"]


class FaultSwitchInline(admin.StackedInline):
    model = SandboxFaultSwitch
    extra = 0
    max_num = 1


class SandboxPersonAdmin(admin.ModelAdmin):
    list_display = ["name", "fb_id", "key", "description"]
    inlines = [RoleInline]
    actions = ["revoke_tokens", "expire_tokens"]

    @admin.action(description="Revoke their tokens (they removed the app: 190/458)")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[SandboxPerson]) -> None:
        count = sum(services.sandbox_tokens_revoke(person=person) for person in queryset)
        self.message_user(request, f"{count} token(s) revoked.")

    @admin.action(description="Expire their tokens now (190/463)")
    def expire_tokens(self, request: HttpRequest, queryset: QuerySet[SandboxPerson]) -> None:
        count = sum(services.sandbox_tokens_expire(person=person) for person in queryset)
        self.message_user(request, f"{count} token(s) expired.")


class SandboxAdAccountAdmin(admin.ModelAdmin):
    list_display = ["act_id", "name", "business", "account_status", "common_errors"]
    list_filter = ["account_status"]
    inlines = [RoleInline, FaultSwitchInline]
    actions = ["terms_accept", "terms_revoke", "business_remove", "business_restore"]

    @admin.display(description="Common errors switched on")
    def common_errors(self, account: SandboxAdAccount) -> str:
        problems = []
        if account.business_id is None:
            problems.append("no Business Manager")
        roles = list(account.roles.all())
        if any(not role.terms_accepted for role in roles):
            problems.append("Terms not accepted (by some)")
        if any(not role.can_manage_audiences for role in roles):
            problems.append("read-only person")
        return ", ".join(problems) or "none"

    @admin.action(description="Accept the Custom Audience Terms (everyone)")
    def terms_accept(self, request: HttpRequest, queryset: QuerySet[SandboxAdAccount]) -> None:
        for account in queryset:
            services.sandbox_terms_set(ad_account_id=account.account_id, accepted=True)
        self.message_user(request, "Terms accepted.")

    @admin.action(description="Custom Audience Terms not accepted (everyone)")
    def terms_revoke(self, request: HttpRequest, queryset: QuerySet[SandboxAdAccount]) -> None:
        for account in queryset:
            services.sandbox_terms_set(ad_account_id=account.account_id, accepted=False)
        self.message_user(request, "Terms now not accepted.", messages.WARNING)

    @admin.action(description="Take out of the Business Manager")
    def business_remove(self, request: HttpRequest, queryset: QuerySet[SandboxAdAccount]) -> None:
        for account in queryset:
            services.sandbox_business_set(ad_account_id=account.account_id, in_business_manager=False)
        self.message_user(request, "Ad account(s) no longer in a Business Manager.", messages.WARNING)

    @admin.action(description="Put into the sandbox Business Manager")
    def business_restore(self, request: HttpRequest, queryset: QuerySet[SandboxAdAccount]) -> None:
        for account in queryset:
            services.sandbox_business_set(ad_account_id=account.account_id, in_business_manager=True)
        self.message_user(request, "Ad account(s) in the Business Manager.")


class SandboxTokenAdmin(admin.ModelAdmin):
    """Tokens are shown by kind, owner and dates only: the sandbox never holds them."""

    list_display = ["kind", "person", "app_id", "issued_at", "expires_at", "revoked_at", "revoked_subcode"]
    list_filter = ["kind", "revoked_subcode"]
    fields = ["kind", "person", "app_id", "scopes", "declined_scopes", "issued_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_app_removed", "revoke_password_changed", "expire_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SandboxToken | None = None) -> bool:
        return False

    @admin.action(description="Revoke: the person removed the app (190/458)")
    def revoke_app_removed(self, request: HttpRequest, queryset: QuerySet[SandboxToken]) -> None:
        queryset.update(revoked_at=timezone.now(), revoked_subcode=SandboxToken.Revocation.APP_REMOVED)

    @admin.action(description="Revoke: the person changed their password (190/460)")
    def revoke_password_changed(self, request: HttpRequest, queryset: QuerySet[SandboxToken]) -> None:
        queryset.update(revoked_at=timezone.now(), revoked_subcode=SandboxToken.Revocation.PASSWORD_CHANGED)

    @admin.action(description="Expire now (190/463)")
    def expire_now(self, request: HttpRequest, queryset: QuerySet[SandboxToken]) -> None:
        queryset.update(expires_at=timezone.now())


class SandboxAudienceAdmin(admin.ModelAdmin):
    list_display = ["fb_id", "name", "ad_account", "size", "flagged", "deleted_at", "updated_at"]
    list_filter = ["flagged"]
    search_fields = ["fb_id", "name"]
    fields = [
        "fb_id",
        "name",
        "ad_account",
        "description",
        "customer_file_source",
        "size",
        "flagged",
        "deleted_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["fb_id", "ad_account", "customer_file_source", "size", "created_at", "updated_at"]
    actions = ["flag", "unflag", "delete_at_facebook"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="rows held / matched (reported range)")
    def size(self, audience: SandboxAudience) -> str:
        size = selectors.audience_size(audience=audience)
        lower, upper = size.bounds
        return f"{size.rows:,} / {size.matched:,} ({lower:,} - {upper:,})"

    @admin.action(description="Flag for integrity restrictions (uploads answer 1713230)")
    def flag(self, request: HttpRequest, queryset: QuerySet[SandboxAudience]) -> None:
        queryset.update(flagged=True)

    @admin.action(description="Clear the integrity flag")
    def unflag(self, request: HttpRequest, queryset: QuerySet[SandboxAudience]) -> None:
        queryset.update(flagged=False)

    @admin.action(description="Delete at Facebook (calls answer 100/33 or 1487366)")
    def delete_at_facebook(self, request: HttpRequest, queryset: QuerySet[SandboxAudience]) -> None:
        queryset.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())


class SandboxUploadSessionAdmin(admin.ModelAdmin):
    list_display = [
        "session_id",
        "audience",
        "operation",
        "last_batch_seq",
        "closed",
        "num_received",
        "num_invalid_entries",
        "num_matched",
        "started_at",
    ]
    list_filter = ["operation", "closed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SandboxUploadSession | None = None) -> bool:
        return False


class SandboxFaultSwitchAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "enabled",
        "server_error_share",
        "throttle_share",
        "throttle_code",
        "latency_ms",
        "timeout_share",
        "seed",
    ]
    list_editable = ["enabled", "server_error_share", "throttle_share", "latency_ms", "timeout_share", "seed"]


if getattr(settings, "SANDBOX", False):
    admin.site.register(SandboxBusiness)
    admin.site.register(SandboxPerson, SandboxPersonAdmin)
    admin.site.register(SandboxAdAccount, SandboxAdAccountAdmin)
    admin.site.register(SandboxToken, SandboxTokenAdmin)
    admin.site.register(SandboxAudience, SandboxAudienceAdmin)
    admin.site.register(SandboxUploadSession, SandboxUploadSessionAdmin)
    admin.site.register(SandboxFaultSwitch, SandboxFaultSwitchAdmin)
