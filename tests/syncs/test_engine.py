"""The sync engine against a scripted Facebook (responses): batches, sessions, ledger, failures.

The cohort's members are written directly as encoded rows, and the connection check and
cohort refresh are stubbed: these tests are about what the engine sends and records.
Runs against the real sandbox over HTTP are in test_sync_against_sandbox.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict

import pytest
import responses
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cohorts.encoding import row_serialize
from cohorts.models import Cohort, CohortMember
from integrations.models import FacebookConnection, KeyMapping
from syncs.ledger import ledger_rows_added
from syncs.models import AudienceMember, SyncBatch, SyncJob, SyncRun
from syncs.runner import sync_run_execute
from syncs.services import sync_job_delete

pytestmark = pytest.mark.django_db


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class FakeFacebook:
    """Just enough of the Graph API for the engine: audience members as a set of rows."""

    def __init__(self, audience_id: str = "6000000000001") -> None:
        self.audience_id = audience_id
        self.members: set[str] = set()
        self.calls: list[tuple[str, int]] = []  # (method, rows)
        self.sessions: dict[int, list[int]] = defaultdict(list)
        self.closed: set[int] = set()
        self.fail_next: list[tuple[int, dict]] = []  # (http status, error body) answers to give first
        self.max_rows = 10_000

    def install(self, mock: responses.RequestsMock) -> None:
        base = re.escape(f"{settings.FACEBOOK_GRAPH_URL}/{settings.FACEBOOK_GRAPH_VERSION}/{self.audience_id}")
        for method in ("POST", "DELETE"):
            mock.add_callback(method, re.compile(base + r"/users(replace)?$"), callback=self._users,
                              content_type="application/json")
        mock.add_callback("GET", re.compile(base + r"(\?.*)?$"), callback=self._audience,
                          content_type="application/json")

    def _users(self, request):
        body = json.loads(request.body)
        if self.fail_next:
            status, error = self.fail_next.pop(0)
            return status, {}, json.dumps({"error": error})
        rows = body["payload"]["data"]
        session = body["session"]
        self.calls.append((request.method, len(rows)))
        if len(rows) > self.max_rows:
            return 400, {}, json.dumps({"error": {"code": 105, "message": "(#105) Too many rows", "type": "OAuth"}})
        seqs = self.sessions[session["session_id"]]
        assert session["session_id"] not in self.closed, "batch after last_batch_flag"
        assert session["batch_seq"] == len(seqs) + 1, f"out of order: {session} after {seqs}"
        seqs.append(session["batch_seq"])
        if session["last_batch_flag"]:
            self.closed.add(session["session_id"])
        keys = [json.dumps(row, separators=(",", ":")) for row in rows]
        if request.method == "DELETE":
            self.members.difference_update(keys)
        else:
            if request.url.endswith("usersreplace") and session["batch_seq"] == 1:
                self.members.clear()
            self.members.update(keys)
        answer = {"audience_id": self.audience_id, "session_id": session["session_id"], "num_received": len(rows),
                  "num_invalid_entries": 0, "invalid_entry_samples": {}}
        return 200, {"x-fb-trace-id": "trace123"}, json.dumps(answer)

    def _audience(self, request):
        size = len(self.members)
        lower, upper = (0, 1000) if size < 1000 else (int(size * 0.9), int(size * 1.1))
        return 200, {}, json.dumps({"id": self.audience_id, "name": "a", "approximate_count_lower_bound": lower,
                                    "approximate_count_upper_bound": upper})


@pytest.fixture
def fb(monkeypatch):
    fake = FakeFacebook()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


@pytest.fixture
def job(project, monkeypatch, settings):
    settings.GRAPH_RETRY_BASE_DELAY = 0.0
    monkeypatch.setattr("cohorts.services.cohort_members_refresh", lambda **kwargs: None)
    monkeypatch.setattr("integrations.connection_checks.connection_check", lambda **kwargs: None)
    KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property", property_name="email")
    connection = FacebookConnection.objects.create(
        project=project, ad_account_id="act_42", status="active", access_token="EAAB-test-token"
    )
    cohort = Cohort.objects.create(project=project, amplitude_cohort_id="c1", name="Buyers")
    return SyncJob.objects.create(cohort=cohort, connection=connection, audience_name="Buyers",
                                  audience_id="6000000000001")


def set_cohort(job: SyncJob, emails) -> set[str]:
    """Make the cohort hold exactly these people; returns the rows Facebook should end with."""
    CohortMember.objects.filter(cohort=job.cohort).delete()
    members, expected = [], set()
    for email in emails:
        text, row_hash = row_serialize([digest(email)])
        members.append(CohortMember(cohort=job.cohort, row_hash=row_hash, row=text))
        expected.add(text)
    CohortMember.objects.bulk_create(members, batch_size=2000)
    return expected


def emails(start: int, stop: int) -> list[str]:
    return [f"person{i}@example.com" for i in range(start, stop)]


def test_first_sync_sends_everyone_in_full_batches_with_one_session_per_lane(job, fb, settings):
    settings.SYNC_UPLOAD_CONCURRENCY = 2
    expected = set_cohort(job, emails(0, 25_000))
    report = sync_run_execute(job_id=job.pk, trigger="manual")

    assert report.status == "succeeded", report
    assert fb.members == expected
    assert sorted(rows for _, rows in fb.calls) == [5_000, 10_000, 10_000]  # the minimum: 3 calls
    assert len(fb.sessions) == 2 and fb.closed == set(fb.sessions)  # each lane's session was closed
    run = SyncRun.objects.get(pk=report.run_id)
    assert (run.rows_added, run.rows_removed, run.batches_done) == (25_000, 0, 3)
    assert AudienceMember.objects.filter(job=job, present=True).count() == 25_000
    batches = list(run.batches.order_by("sequence"))
    assert [b.status for b in batches] == ["confirmed"] * 3
    assert all(b.num_received == b.rows_sent and b.fbtrace_id == "trace123" for b in batches)
    assert set(run.stage_seconds) >= {"check", "download", "compare", "upload", "bookkeeping"}
    job.refresh_from_db()
    assert job.status == "succeeded" and job.last_success_at is not None
    assert (job.audience_lower_bound, job.audience_upper_bound) == (22_500, 27_500)


def test_later_runs_send_only_who_left_and_who_joined(job, fb):
    set_cohort(job, emails(0, 3_000))
    sync_run_execute(job_id=job.pk, trigger="manual")
    fb.calls.clear()

    expected = set_cohort(job, emails(100, 3_050))  # 100 left, 50 joined
    report = sync_run_execute(job_id=job.pk, trigger="manual")

    assert report.status == "succeeded"
    assert (report.rows_added, report.rows_removed, report.rows_unchanged) == (50, 100, 2_900)
    assert fb.calls == [("DELETE", 100), ("POST", 50)]  # removals first, then additions
    assert fb.members == expected
    left = AudienceMember.objects.get(job=job, row=row_serialize([digest("person0@example.com")])[0])
    assert left.present is False and left.removed_batch_id is not None


def test_the_ledger_names_the_batches_that_added_and_removed_a_row_and_goes_with_its_job(job, fb):
    set_cohort(job, emails(0, 300))
    sync_run_execute(job_id=job.pk, trigger="manual")
    set_cohort(job, emails(1, 300))
    sync_run_execute(job_id=job.pk, trigger="manual")

    left = AudienceMember.objects.get(job=job, row=row_serialize([digest("person0@example.com")])[0])
    added, removed = SyncBatch.objects.get(pk=left.added_batch_id), SyncBatch.objects.get(pk=left.removed_batch_id)
    assert (added.operation, removed.operation) == ("add", "remove")
    assert added.run_id != removed.run_id

    sync_job_delete(job=job, delete_audience=False)

    assert not AudienceMember.objects.exists()
    assert not SyncBatch.objects.exists() and not SyncRun.objects.exists()


def test_rows_said_to_be_new_that_are_in_the_ledger_after_all_are_re_added_not_lost(job, fb):
    set_cohort(job, emails(0, 10))
    sync_run_execute(job_id=job.pk, trigger="manual")
    AudienceMember.objects.filter(job=job).update(present=False, removed_at=timezone.now())
    rows = [*AudienceMember.objects.filter(job=job).values_list("row_hash", "row"), (1, '["new"]')]
    batch = SyncBatch.objects.filter(run__job=job).first()

    with transaction.atomic():
        ledger_rows_added(job_id=job.pk, batch_id=batch.pk, rows=rows, at=timezone.now(), new_rows=True)
        batch.save()  # the batch's own transaction goes on after the conflict

    assert AudienceMember.objects.filter(job=job, present=True).count() == 11
    assert not AudienceMember.objects.filter(job=job, removed_at__isnull=False).exists()


def test_a_first_sync_records_every_row_it_sent_in_the_ledger_once(job, fb):
    set_cohort(job, emails(0, 2_500))

    report = sync_run_execute(job_id=job.pk, trigger="manual")

    assert report.rows_added == 2_500
    assert AudienceMember.objects.filter(job=job, present=True).count() == 2_500
    assert set(AudienceMember.objects.filter(job=job).values_list("added_batch_id", flat=True)) == set(
        SyncBatch.objects.filter(run_id=report.run_id, operation="add").values_list("pk", flat=True)
    )


def test_nothing_changed_means_no_upload_call(job, fb):
    set_cohort(job, emails(0, 500))
    sync_run_execute(job_id=job.pk, trigger="manual")
    fb.calls.clear()
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded" and fb.calls == []
    assert report.rows_unchanged == 500


def test_many_changes_replace_the_audience_in_one_session(job, fb, settings):
    settings.SYNC_REMOVAL_APPROVAL_SHARE = 1.0
    set_cohort(job, emails(0, 1_000))
    sync_run_execute(job_id=job.pk, trigger="manual")
    fb.calls.clear()
    expected = set_cohort(job, emails(700, 1_900))  # 70% left
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded"
    assert SyncRun.objects.get(pk=report.run_id).mode_used == "replace"
    assert fb.calls == [("POST", 1_200)]
    assert fb.members == expected
    assert AudienceMember.objects.filter(job=job, present=True).count() == 1_200


def test_a_large_removal_waits_for_approval(job, fb, superuser):
    from syncs.services import sync_job_approve_removals

    set_cohort(job, emails(0, 1_000))
    sync_run_execute(job_id=job.pk, trigger="manual")
    fb.calls.clear()
    expected = set_cohort(job, emails(0, 500))
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "awaiting_approval" and fb.calls == []
    job.refresh_from_db()
    assert job.status == "awaiting_approval" and "500 of the audience's 1,000" in job.status_reason
    assert sync_run_execute(job_id=job.pk, trigger="schedule").status == "skipped"  # the schedule waits

    sync_job_approve_removals(job=job, user=superuser)
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded" and fb.members == expected
    job.refresh_from_db()
    assert job.removals_approved_at is None  # used up


def test_a_batch_refused_for_its_size_is_split_and_resent_in_the_same_session(job, fb, settings):
    fb.max_rows = 600
    settings.SYNC_UPLOAD_CONCURRENCY = 1
    expected = set_cohort(job, emails(0, 1_000))
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded", report
    assert fb.members == expected
    statuses = list(SyncBatch.objects.filter(run_id=report.run_id).order_by("sequence").values_list(
        "status", "rows_sent", "error_code"))
    assert statuses == [("failed", 1000, "payload_too_large"), ("confirmed", 500, ""), ("confirmed", 500, "")]
    assert fb.sessions[next(iter(fb.sessions))] == [1, 2]


def test_transient_errors_are_retried_and_the_audience_still_matches(job, fb):
    fb.fail_next = [(500, {"code": 2, "message": "Service temporarily unavailable", "is_transient": True})] * 2
    expected = set_cohort(job, emails(0, 800))
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded"
    assert fb.members == expected
    batch = SyncBatch.objects.get(run_id=report.run_id)
    assert batch.attempts == 3


def test_terms_revoked_stops_the_run_and_holds_the_job_with_the_fix(job, fb, monkeypatch):
    set_cohort(job, emails(0, 800))
    fb.fail_next = [(400, {
        "code": 2655, "type": "OAuthException",
        "message": "Terms of service has not been accepted. To accept, go to "
                   "https://www.facebook.com/customaudiences/app/tos/?act=42",
    })]
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "stopped"
    assert "Terms" in report.fix
    job.refresh_from_db()
    assert job.status == "needs_attention"
    assert "tos/?act=42" in job.status_fix or "Terms" in job.status_fix
    connection = job.connection
    connection.refresh_from_db()
    assert connection.status == "needs_attention" and connection.problem_fix
    assert AudienceMember.objects.filter(job=job).count() == 0  # nothing confirmed, nothing recorded
    assert len(fb.calls) == 0  # one refused call, not retried
    batch = SyncBatch.objects.get(run_id=report.run_id)
    assert (batch.status, batch.attempts) == ("failed", 1)


def test_one_run_at_a_time(job, fb):
    set_cohort(job, emails(0, 10))
    SyncRun.objects.create(job=job, status="running", worker="elsewhere:1")
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "skipped" and report.run_id is None
    assert fb.calls == []


def test_a_run_whose_worker_died_is_taken_over_and_nothing_is_lost(job, fb, settings):
    """A crash after Facebook accepted a batch but before we recorded it: the rows are sent again."""
    expected = set_cohort(job, emails(0, 2_500))
    crashed = SyncRun.objects.create(job=job, status="running", worker="some-host:1")
    SyncBatch.objects.create(run=crashed, operation="add", sequence=1, rows_sent=1000, status="sending")
    SyncRun.objects.filter(pk=crashed.pk).update(
        heartbeat_at=crashed.started_at - __import__("datetime").timedelta(seconds=settings.SYNC_LEASE_SECONDS + 1)
    )
    report = sync_run_execute(job_id=job.pk, trigger="manual")
    assert report.status == "succeeded"
    assert fb.members == expected
    crashed.refresh_from_db()
    assert crashed.status == "interrupted"
    assert crashed.batches.get().status == "interrupted"
