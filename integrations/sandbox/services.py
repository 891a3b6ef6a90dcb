"""Writes to the sandbox's state: seed data, switches, tokens, audiences and members."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.sandbox import graph_errors as refuse
from integrations.sandbox import member_log
from integrations.sandbox.models import (
    SandboxAdAccount,
    SandboxAdAccountRole,
    SandboxAudience,
    SandboxBusiness,
    SandboxFaultSwitch,
    SandboxPerson,
    SandboxReportRun,
    SandboxToken,
    SandboxUploadSession,
)
from integrations.sandbox.rows import ParsedRows
from integrations.sandbox.tokens import LONG_LIVED, SHORT_LIVED, token_mint

ALL_SCOPES = ("ads_management", "business_management", "ads_read")
Role = SandboxAdAccountRole.Role
Operation = SandboxUploadSession.Operation


# --- Seed data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedPerson:
    key: str
    fb_id: str
    name: str
    description: str
    account_id: str
    account_name: str
    in_business: bool = True
    role: str = Role.ADMIN
    terms_accepted: bool = True


SEED_BUSINESS_ID = "900000000000001"
SEED_BUSINESS_NAME = "Acme Outdoor (sandbox Business Manager)"
SEED_PEOPLE = (
    SeedPerson(
        key="ready",
        fb_id="100000000000101",
        name="Robin Ready",
        description="Everything in order: Admin of an ad account in a Business Manager, Terms accepted.",
        account_id="200000000000101",
        account_name="Acme Outdoor - Main",
    ),
    SeedPerson(
        key="terms",
        fb_id="100000000000102",
        name="Terry Terms",
        description="Has not accepted the Custom Audience Terms for the ad account.",
        account_id="200000000000102",
        account_name="Acme Outdoor - Terms pending",
        terms_accepted=False,
    ),
    SeedPerson(
        key="no_business",
        fb_id="100000000000103",
        name="Nico NoBusiness",
        description="The ad account is not in a Business Manager.",
        account_id="200000000000103",
        account_name="Nico's personal ad account",
        in_business=False,
    ),
    SeedPerson(
        key="no_permission",
        fb_id="100000000000104",
        name="Pat Readonly",
        description="Only an Analyst on the ad account: cannot manage its audiences.",
        account_id="200000000000104",
        account_name="Acme Outdoor - Analytics",
        role=Role.ANALYST,
    ),
)


@dataclass(frozen=True)
class SeededPerson:
    person: SandboxPerson
    ad_account: SandboxAdAccount

    @property
    def act_id(self) -> str:
        return self.ad_account.act_id


def sandbox_seed(*, reset: bool = False) -> dict[str, SeededPerson]:
    """Create the sandbox people, businesses and ad accounts if missing (idempotent).

    With `reset`, also put back every switch the seed defines (Business Manager, role,
    Terms) that someone changed since.
    """
    business, _ = SandboxBusiness.objects.get_or_create(fb_id=SEED_BUSINESS_ID, defaults={"name": SEED_BUSINESS_NAME})
    seeded: dict[str, SeededPerson] = {}
    for spec in SEED_PEOPLE:
        person, _ = SandboxPerson.objects.get_or_create(
            fb_id=spec.fb_id, defaults={"key": spec.key, "name": spec.name, "description": spec.description}
        )
        account, created = SandboxAdAccount.objects.get_or_create(
            account_id=spec.account_id,
            defaults={"name": spec.account_name, "business": business if spec.in_business else None},
        )
        if reset and not created:
            account.business = business if spec.in_business else None
            account.account_status = SandboxAdAccount.Status.ACTIVE
            account.save(update_fields=["business", "account_status"])
        role, created = SandboxAdAccountRole.objects.get_or_create(
            person=person, ad_account=account, defaults={"role": spec.role, "terms_accepted": spec.terms_accepted}
        )
        if reset and not created:
            role.role, role.terms_accepted = spec.role, spec.terms_accepted
            role.save(update_fields=["role", "terms_accepted"])
        seeded[spec.key] = SeededPerson(person=person, ad_account=account)
    return seeded


# --- Tokens --------------------------------------------------------------------------------


def sandbox_token_issue(
    *,
    person: SandboxPerson,
    scopes: tuple[str, ...] | list[str] = ALL_SCOPES,
    declined_scopes: tuple[str, ...] | list[str] = (),
    long_lived: bool = True,
    lifetime: timedelta | None = None,
) -> str:
    """A new user token for `person` (returned once; only its digest is kept)."""
    kind = SandboxToken.Kind.USER_LONG if long_lived else SandboxToken.Kind.USER_SHORT
    token, _ = token_mint(
        kind=kind,
        person=person,
        scopes=list(scopes),
        declined_scopes=list(declined_scopes),
        lifetime=lifetime or (LONG_LIVED if long_lived else SHORT_LIVED),
    )
    return token


def sandbox_tokens_revoke(
    *, person: SandboxPerson, subcode: int = SandboxToken.Revocation.APP_REMOVED, app_id: str | None = None
) -> int:
    """Every live token of the person stops working with 190/`subcode` (458, 459 or 460)."""
    tokens = SandboxToken.objects.filter(person=person, revoked_at__isnull=True)
    if app_id:
        tokens = tokens.filter(app_id=app_id)
    return tokens.update(revoked_at=timezone.now(), revoked_subcode=subcode)


def sandbox_tokens_expire(*, person: SandboxPerson) -> int:
    """Every token of the person is past its expiry (190/463)."""
    return SandboxToken.objects.filter(person=person).update(expires_at=timezone.now() - timedelta(seconds=1))


# --- Switches for the three common errors ---------------------------------------------------


def _account(ad_account_id: str) -> SandboxAdAccount:
    return SandboxAdAccount.objects.get(account_id=str(ad_account_id).removeprefix("act_"))


def sandbox_terms_set(*, ad_account_id: str, accepted: bool, person: SandboxPerson | None = None) -> int:
    roles = SandboxAdAccountRole.objects.filter(ad_account=_account(ad_account_id))
    if person is not None:
        roles = roles.filter(person=person)
    return roles.update(terms_accepted=accepted)


def sandbox_business_set(*, ad_account_id: str, in_business_manager: bool) -> None:
    account = _account(ad_account_id)
    business = None
    if in_business_manager:
        business, _ = SandboxBusiness.objects.get_or_create(
            fb_id=SEED_BUSINESS_ID, defaults={"name": SEED_BUSINESS_NAME}
        )
    account.business = business
    account.save(update_fields=["business"])


def sandbox_role_set(*, ad_account_id: str, person: SandboxPerson, role: str) -> None:
    SandboxAdAccountRole.objects.update_or_create(
        person=person, ad_account=_account(ad_account_id), defaults={"role": role}
    )


def sandbox_fault_switch_set(*, ad_account_id: str | None = None, **values: Any) -> SandboxFaultSwitch:
    """Create or change the fault switch of an ad account (or the global one)."""
    account = _account(ad_account_id) if ad_account_id else None
    values.setdefault("enabled", True)
    if account is None:
        switch = SandboxFaultSwitch.objects.filter(ad_account__isnull=True).order_by("-updated_at").first()
        switch = switch or SandboxFaultSwitch(ad_account=None)
    else:
        switch = SandboxFaultSwitch.objects.filter(ad_account=account).first() or SandboxFaultSwitch(ad_account=account)
    for name, value in values.items():
        setattr(switch, name, value)
    switch.full_clean(exclude=["ad_account"])
    switch.save()
    return switch


def sandbox_fault_switches_clear() -> None:
    SandboxFaultSwitch.objects.all().delete()


def sandbox_audience_flag_set(*, audience_id: str, flagged: bool) -> None:
    SandboxAudience.objects.filter(fb_id=audience_id).update(flagged=flagged)


def sandbox_audience_delete_at_facebook(*, audience_id: str) -> None:
    """Simulate a person deleting the audience in Ads Manager."""
    SandboxAudience.objects.filter(fb_id=audience_id, deleted_at__isnull=True).update(deleted_at=timezone.now())


# --- OAuth ------------------------------------------------------------------------------------


def oauth_grant_record(*, person: SandboxPerson, accept_terms: bool) -> None:
    """What the dialog's Terms box does: accept the Terms on the person's ad accounts."""
    if accept_terms:
        SandboxAdAccountRole.objects.filter(person=person).update(terms_accepted=True)


def permissions_revoke(*, person: SandboxPerson, app_id: str) -> None:
    """DELETE /me/permissions: the app is removed; its tokens die with 190/458."""
    sandbox_tokens_revoke(person=person, subcode=SandboxToken.Revocation.APP_REMOVED, app_id=app_id)


# --- Audiences ---------------------------------------------------------------------------------


def _new_object_id() -> str:
    # Meta ids are 15-18 digit numbers; 2385... is what audience ids look like.
    return str(23_850_000_000_000_000 + secrets.randbelow(10**14))


def audience_create(
    *, ad_account: SandboxAdAccount, name: str, description: str, subtype: str, customer_file_source: str
) -> SandboxAudience:
    return SandboxAudience.objects.create(
        fb_id=_new_object_id(),
        ad_account=ad_account,
        name=name,
        description=description,
        subtype=subtype,
        customer_file_source=customer_file_source,
    )


def audience_delete(*, audience: SandboxAudience) -> None:
    audience.deleted_at = timezone.now()
    audience.save(update_fields=["deleted_at", "updated_at"])


def report_run_create(*, ad_account: SandboxAdAccount, params: dict[str, Any]) -> SandboxReportRun:
    return SandboxReportRun.objects.create(fb_id=_new_object_id(), ad_account=ad_account, params=params)


# --- Members -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionStep:
    session: SandboxUploadSession | None
    is_resend: bool = False
    is_first: bool = False


def _session_step(*, audience: SandboxAudience, operation: str, spec: dict[str, Any] | None) -> SessionStep:
    """Enforce batch order: 1 first, then previous + 1; the last batch again is a resend."""
    if spec is None:
        if operation == Operation.REPLACE:
            raise refuse.invalid_parameter("The parameter session is required for usersreplace")
        return SessionStep(session=None)
    seq = spec["batch_seq"]
    sessions = SandboxUploadSession.objects.select_for_update()
    session = sessions.filter(audience=audience, session_id=spec["session_id"]).first()
    if session is None:
        if seq != 1:
            raise refuse.batch_out_of_order(
                f"batch_seq {seq} of session {spec['session_id']} arrived before batch_seq 1"
            )
        try:
            with transaction.atomic():
                session = SandboxUploadSession.objects.create(
                    audience=audience,
                    session_id=spec["session_id"],
                    operation=operation,
                    estimated_num_total=spec["estimated_num_total"],
                )
        except IntegrityError:  # the same first batch, sent twice at once
            return _session_step(audience=audience, operation=operation, spec=spec)
        return SessionStep(session=session, is_first=True)
    if session.operation != operation:
        raise refuse.batch_out_of_order(f"session {session.session_id} is a {session.operation} session")
    if seq == session.last_batch_seq:
        return SessionStep(session=session, is_resend=True)
    if session.closed:
        raise refuse.batch_out_of_order(
            f"session {session.session_id} already ended with batch_seq {session.last_batch_seq}"
        )
    if seq != session.last_batch_seq + 1:
        raise refuse.batch_out_of_order(
            f"batch_seq {seq} is out of order: the last batch received in session {session.session_id} "
            f"was {session.last_batch_seq}"
        )
    return SessionStep(session=session)


def members_upload(
    *, audience: SandboxAudience, operation: str, parsed: ParsedRows, session_spec: dict[str, Any] | None
) -> dict[str, Any]:
    """Accept one users / usersreplace request (its rows are logged, applied on read); Meta's answer."""
    member_log.sqlite_tune_for_bulk_writes()
    with transaction.atomic():
        # Written first, the audience row is locked until the commit: uploads to one
        # audience commit in the order of their log ids, which is the order they are
        # applied in (PostgreSQL hands out ids before the commit).
        SandboxAudience.objects.filter(pk=audience.pk).update(updated_at=timezone.now())
        step = _session_step(audience=audience, operation=operation, spec=session_spec)
        if step.session is not None:
            _session_record(step, parsed, session_spec)
        replace = operation == Operation.REPLACE
        member_log.log_append(
            audience_pk=audience.pk,
            operation=operation,
            parsed=parsed,
            session_spec=session_spec,
            wipe_before=replace and step.is_first,
            finish_after=replace and step.session is not None and step.session.closed,
        )
    answer: dict[str, Any] = {
        "audience_id": audience.fb_id,
        "num_received": parsed.num_received,
        "num_invalid_entries": parsed.num_invalid_entries,
        "invalid_entry_samples": parsed.invalid_entry_samples,
    }
    if session_spec is not None:
        answer["session_id"] = str(session_spec["session_id"])
    return answer


def _session_record(step: SessionStep, parsed: ParsedRows, spec: dict[str, Any] | None) -> None:
    session = step.session
    assert session is not None and spec is not None
    if not step.is_resend:
        session.last_batch_seq = spec["batch_seq"]
        session.num_received += parsed.num_received
        session.num_invalid_entries += parsed.num_invalid_entries
        session.num_matched += sum(parsed.matched)
    if spec["last_batch_flag"] and not session.closed:
        session.closed = True
        session.ended_at = timezone.now()
    session.save()
