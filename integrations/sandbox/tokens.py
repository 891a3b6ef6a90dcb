"""Sandbox tokens: minted once, stored as SHA-256 digests, checked like Meta checks them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.sandbox import conf
from integrations.sandbox import graph_errors as refuse
from integrations.sandbox.models import SandboxPerson, SandboxToken

SHORT_LIVED = timedelta(hours=2)
LONG_LIVED = timedelta(days=60)
_ALPHABET = string.ascii_letters + string.digits


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def random_text(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def token_mint(
    *,
    kind: str,
    person: SandboxPerson | None,
    scopes: list[str],
    declined_scopes: list[str] | None = None,
    lifetime: timedelta | None = None,
    app_id: str | None = None,
) -> tuple[str, SandboxToken]:
    """Create a token; the plain token is returned here and never stored."""
    app = app_id or conf.app_id()
    token = f"{app}|{random_text(27)}" if kind == SandboxToken.Kind.APP else "EAA" + random_text(180)
    now = timezone.now()
    record = SandboxToken.objects.create(
        digest=token_digest(token),
        kind=kind,
        person=person,
        app_id=app,
        scopes=list(scopes),
        declined_scopes=list(declined_scopes or []),
        issued_at=now,
        expires_at=now + lifetime if lifetime else None,
    )
    return token, record


def is_app_credentials(token: str) -> bool:
    """`APP_ID|APP_SECRET` is accepted as an app token, as Meta accepts it."""
    app, _, secret = token.partition("|")
    return bool(secret) and app == conf.app_id() and hmac.compare_digest(secret, conf.app_secret())


def token_resolve(token: str | None, *, now: datetime | None = None) -> SandboxToken | None:
    """The live token record, or a Meta 190 refusal. None means an app-credentials token."""
    if not token:
        raise refuse.token_required()
    if is_app_credentials(token):
        return None
    record = SandboxToken.objects.select_related("person").filter(digest=token_digest(token)).first()
    if record is None:
        raise refuse.token_unparseable()
    now = now or timezone.now()
    if record.revoked_at is not None:
        raise refuse.token_revoked(record.revoked_subcode or SandboxToken.Revocation.APP_REMOVED, record.app_id)
    if record.expires_at is not None and record.expires_at <= now:
        raise refuse.token_expired(_meta_time(record.expires_at), _meta_time(now))
    return record


def _meta_time(moment: datetime) -> str:
    return moment.astimezone(timezone.get_default_timezone()).strftime("%A, %d-%b-%y %H:%M:%S %Z")


def appsecret_proof_check(token: str, proof: str | None) -> None:
    """Verify a sent proof; require one when the sandbox is told to (Meta's app setting)."""
    if not proof:
        if conf.require_appsecret_proof():
            raise refuse.appsecret_proof_missing()
        return
    expected = hmac.new(conf.app_secret().encode(), token.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, proof):
        raise refuse.appsecret_proof_invalid()
