"""Holding a connection's jobs and releasing only those held for the connection."""

from __future__ import annotations

import pytest
from django.utils import timezone

from syncs.models import SyncJob
from syncs.pausing import sync_jobs_hold_for_connection, sync_jobs_release_for_connection

pytestmark = pytest.mark.django_db

S = SyncJob.Status


def test_hold_puts_enabled_jobs_on_hold_but_leaves_paused_disabled_and_engine_held_jobs_alone(
    make_connection, make_job
):
    connection = make_connection()
    healthy = make_job(connection, name="healthy", status=S.SUCCEEDED)
    new = make_job(connection, name="new")
    paused = make_job(connection, name="paused", status=S.PAUSED, status_reason="Paused by ada")
    disabled = make_job(connection, name="disabled", enabled=False, status=S.SUCCEEDED)
    engine_held = make_job(connection, name="gone", status=S.NEEDS_ATTENTION, status_reason="Audience deleted")

    held = sync_jobs_hold_for_connection(connection=connection, reason="Terms not accepted.", fix="Accept them.")

    assert held == 2
    for job in (healthy, new, paused, disabled, engine_held):
        job.refresh_from_db()
    assert healthy.status == new.status == S.NEEDS_ATTENTION
    assert healthy.status_reason == "Facebook connection: Terms not accepted." and healthy.status_fix == "Accept them."
    assert paused.status == S.PAUSED and paused.status_reason == "Paused by ada"
    assert disabled.status == S.SUCCEEDED
    assert engine_held.status_reason == "Audience deleted"


def test_a_new_problem_replaces_the_reason_of_jobs_already_held(make_connection, make_job):
    connection = make_connection()
    job = make_job(connection, status=S.SUCCEEDED)
    sync_jobs_hold_for_connection(connection=connection, reason="Terms not accepted.", fix="Accept them.")
    sync_jobs_hold_for_connection(connection=connection, reason="Token expired.", fix="Reconnect.")
    job.refresh_from_db()
    assert (job.status_reason, job.status_fix) == ("Facebook connection: Token expired.", "Reconnect.")


def test_release_returns_held_jobs_to_what_their_history_says_and_nothing_else(make_connection, make_job):
    connection = make_connection()
    now = timezone.now()
    make_job(connection, name="healthy", status=S.SUCCEEDED)
    make_job(connection, name="never")
    make_job(connection, name="failed", status=S.FAILED, last_run_at=now, last_success_at=None)
    make_job(connection, name="gone", status=S.NEEDS_ATTENTION, status_reason="Audience deleted")
    other = make_job(make_connection(ad_account_id="act_222"), name="other", status=S.SUCCEEDED)
    sync_jobs_hold_for_connection(connection=connection, reason="Token expired.", fix="Reconnect.")
    sync_jobs_hold_for_connection(connection=other.connection, reason="Token expired.", fix="Reconnect.")

    assert sync_jobs_release_for_connection(connection=connection) == 3

    statuses = {job.audience_name: (job.status, job.status_reason) for job in SyncJob.objects.all()}
    assert statuses["healthy"] == (S.SUCCEEDED, "")
    assert statuses["never"] == (S.NEW, "")
    assert statuses["failed"] == (S.FAILED, "")
    assert statuses["gone"] == (S.NEEDS_ATTENTION, "Audience deleted")
    assert statuses["other"][0] == S.NEEDS_ATTENTION
