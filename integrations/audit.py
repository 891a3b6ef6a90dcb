"""The audit trail: one AuditEvent per action a person (or the system) took.

Callers describe *what changed* in words and counts. Secrets and personal data never
go in: `audit_record` refuses keys that look like secrets, and field summaries of
secret fields only say that the value changed.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from integrations.models import AuditEvent, Project

SECRET_WORDS = ("token", "secret", "password", "api_key", "apikey")


class AuditActions:
    """The vocabulary of AuditEvent.action (free text in the database, constants in code)."""

    PROJECT_CREATED = "project.created"
    PROJECT_CHANGED = "project.changed"
    MEMBERSHIP_ADDED = "membership.added"
    MEMBERSHIP_CHANGED = "membership.changed"
    MEMBERSHIP_REMOVED = "membership.removed"
    CONNECTION_CONNECTED = "connection.connected"
    CONNECTION_RECONNECTED = "connection.reconnected"
    CONNECTION_DISCONNECTED = "connection.disconnected"
    CONNECTION_CHECK_FAILED = "connection.check_failed"
    KEY_MAPPING_CHANGED = "key_mapping.changed"
    SYNC_CREATED = "sync.created"
    SYNC_PAUSED = "sync.paused"
    SYNC_RESUMED = "sync.resumed"
    SYNC_RUN_MANUALLY = "sync.run_manually"
    SYNC_DELETED = "sync.deleted"
    SYNC_REMOVALS_APPROVED = "sync.removals_approved"
    SYNC_AUDIENCE_RECREATED = "sync.audience_recreated"
    SYNC_MEMBER_LOOKUP = "sync.member_lookup"


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy
    # rewrites it, and the deployment guide puts the app behind such a proxy.
    return request.META.get("REMOTE_ADDR") or None


def _assert_no_secrets(changes: dict[str, Any]) -> None:
    for key in changes:
        lowered = str(key).lower()
        if any(word in lowered for word in SECRET_WORDS) and changes[key] not in ("changed", "set", "cleared"):
            raise ValueError(f"Audit summaries must not carry secret values (field {key!r}).")


def audit_record(
    *,
    action: str,
    actor=None,
    project: Project | None = None,
    target: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    changes = changes or {}
    _assert_no_secrets(changes)
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor.get_username() if actor is not None and actor.is_authenticated else "system",
        project=project,
        project_label=project.name if project else "",
        action=action,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:200] if target is not None else "",
        changes=changes,
        ip_address=client_ip(request),
    )


def summarize_changes(
    instance: models.Model, changed_fields: list[str], *, before: dict[str, Any] | None = None
) -> dict[str, Any]:
    """{field: [old, new]} for plain fields, {field: "changed"} for secrets."""
    summary: dict[str, Any] = {}
    for name in changed_fields:
        if any(word in name.lower() for word in SECRET_WORDS):
            summary[name] = "changed"
            continue
        new = getattr(instance, name, None)
        old = (before or {}).get(name)
        summary[name] = [_plain(old), _plain(new)]
    return summary


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
