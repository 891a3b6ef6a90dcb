"""The connection checks against canned Graph answers: each problem's status and plain-words fix,
jobs held and released, the expiry warning, and one audit event per change of problem."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.connection_checks import CheckTrigger, connection_check, connections_check_all
from integrations.connection_problems import ProblemCode
from integrations.models import AuditEvent, FacebookConnection
from syncs.models import SyncJob
from tests.integrations.connections.conftest import ACT, account_json, envelope

pytestmark = pytest.mark.django_db

Status = FacebookConnection.Status
TERMS_LINK = "https://business.facebook.com/ads/manage/customaudiences/tos/?act=111"


def check(connection, **kwargs):
    result = connection_check(connection=connection, trigger=CheckTrigger.CHECK_AGAIN, **kwargs)
    connection.refresh_from_db()
    return result


def test_every_check_passing_makes_the_connection_active_and_resumes_its_held_jobs(fb, make_connection, make_job):
    connection = make_connection(status=Status.NEEDS_ATTENTION, problem_code=ProblemCode.TERMS_NOT_ACCEPTED)
    job = make_job(connection, status=SyncJob.Status.NEEDS_ATTENTION, status_reason="Facebook connection: Terms")

    result = check(connection)

    assert result.passed and result.jobs_released == 1
    assert connection.status == Status.ACTIVE and connection.problem_code == ""
    assert connection.business_name == "Acme BM" and connection.terms_status == "accepted"
    job.refresh_from_db()
    assert job.status == SyncJob.Status.NEW and job.status_reason == ""
    event = AuditEvent.objects.get(action="connection.check_passed")
    assert event.changes == {"problem_cleared": "terms_not_accepted", "jobs_resumed": 1, "trigger": "check_again"}


@pytest.mark.parametrize(
    ("answers", "code", "message_part", "fix_part"),
    [
        (
            {"account": account_json(terms=False)},
            ProblemCode.TERMS_NOT_ACCEPTED,
            "Custom Audience Terms are not accepted",
            f"Robin Ready (the Facebook person who connected) must accept them personally: open {TERMS_LINK} "
            "while logged in to Facebook as that person",
        ),
        (
            {"account": account_json(business=False)},
            ProblemCode.NO_BUSINESS_MANAGER,
            "is not part of a Business Manager",
            "Add this ad account to a Business Manager",
        ),
        (
            {"account": account_json(user_tasks=["ANALYZE"])},
            ProblemCode.PERMISSION_MISSING,
            "Robin Ready (the Facebook person who connected) may not manage audiences of ad account Acme Main",
            "Advertiser or Admin role",
        ),
        (
            {"audiences_error": envelope("(#200) The current user can not manage audiences", 200)},
            ProblemCode.PERMISSION_MISSING,
            "may not manage audiences",
            "Advertiser or Admin role",
        ),
        (
            {"account_error": envelope("Unsupported get request. Object with ID 'act_111' does not exist", 100, 33)},
            ProblemCode.AD_ACCOUNT_UNREADABLE,
            "cannot open ad account act_111",
            "give this person access",
        ),
        (
            {"account": account_json(status=2)},
            ProblemCode.AD_ACCOUNT_INACTIVE,
            "is disabled by Facebook",
            "Account Quality",
        ),
        (
            {"scopes": ["ads_management", "ads_read"]},
            ProblemCode.SCOPE_MISSING,
            "did not grant the business_management permission",
            "leave business_management switched on",
        ),
        (
            {"valid": False, "token_error": {"code": 190, "subcode": 458, "message": "The user has not authorized"}},
            ProblemCode.TOKEN_INVALID,
            "no longer accepts the saved token",
            "Reconnect (Continue with Facebook)",
        ),
        (
            {"valid": False, "expires_in": -60, "token_error": {"code": 190, "subcode": 463}},
            ProblemCode.TOKEN_EXPIRED,
            "The Facebook token expired on",
            "Reconnect (Continue with Facebook), or paste a Business Manager system-user token",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and value.islower() else None,
)
def test_each_failing_check_says_what_is_wrong_and_holds_the_jobs_with_that_reason(
    fb, make_connection, make_job, answers, code, message_part, fix_part
):
    for name, value in answers.items():
        setattr(fb, name, value)
    connection = make_connection()
    job = make_job(connection, status=SyncJob.Status.SUCCEEDED)

    result = check(connection)

    assert not result.passed
    assert connection.status == Status.NEEDS_ATTENTION
    assert connection.problem_code == code, connection.problem_message
    assert message_part in connection.problem_message
    assert fix_part in connection.problem_fix
    job.refresh_from_db()
    assert job.status == SyncJob.Status.NEEDS_ATTENTION
    assert message_part in job.status_reason and job.status_fix == connection.problem_fix
    event = AuditEvent.objects.get(action="connection.check_failed")
    assert event.changes == {"problem": code, "jobs_held": 1, "trigger": "check_again"}


def test_a_missing_ads_read_is_a_warning_and_syncs_keep_running(fb, make_connection):
    fb.scopes = ["ads_management", "business_management"]
    connection = make_connection()
    result = check(connection)
    assert result.passed
    assert any("ads_read permission was not granted" in warning for warning in result.warnings)


def test_a_token_expiring_within_seven_days_is_warned_about_but_still_works(fb, make_connection, client, superuser):
    fb.expires_in = 3 * 24 * 3600 + 600
    connection = make_connection()
    result = check(connection)
    assert result.passed
    assert result.warnings and "The Facebook token expires in 3 days" in result.warnings[0]
    client.force_login(superuser)
    for url in (
        f"/admin/integrations/facebookconnection/{connection.pk}/change/",
        f"/admin/integrations/project/{connection.project_id}/change/",
    ):
        page = client.get(url).content.decode()
        assert "The Facebook token expires in 3 days" in page, url


def test_no_warning_while_the_token_has_more_than_seven_days(fb, make_connection):
    fb.expires_in = 8 * 24 * 3600
    assert check(make_connection()).warnings == ()


def test_the_same_problem_found_again_leaves_no_second_audit_event_but_a_new_problem_does(fb, make_connection):
    fb.account = account_json(terms=False)
    connection = make_connection()
    check(connection)
    connection_check(connection=connection, trigger=CheckTrigger.DAILY)
    connection_check(connection=connection, trigger=CheckTrigger.DAILY)
    assert AuditEvent.objects.filter(action="connection.check_failed").count() == 1

    fb.account = account_json(business=False)
    check(connection)
    failed = list(AuditEvent.objects.filter(action="connection.check_failed").values_list("changes", flat=True))
    assert [c["problem"] for c in failed] == ["no_business_manager", "terms_not_accepted"]


def test_facebook_unreachable_changes_nothing_and_says_so(fb, make_connection, make_job):
    fb.down = True
    connection = make_connection()
    job = make_job(connection, status=SyncJob.Status.SUCCEEDED)
    result = check(connection)
    assert result.unavailable and "could not be reached" in result.unavailable
    assert not result.passed
    assert connection.status == Status.ACTIVE
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED
    assert not AuditEvent.objects.exists()


def test_user_tasks_not_served_falls_back_to_the_plain_fields(fb, make_connection):
    fb.serves_user_tasks = False
    assert check(make_connection()).passed
    assert fb.calls(ACT) == 2


def test_a_recent_pass_is_reused_when_the_engine_allows_it(fb, make_connection):
    connection = make_connection(last_checked_at=timezone.now() - timedelta(seconds=30))
    result = connection_check(connection=connection, max_age=timedelta(minutes=5))
    assert result.passed
    assert fb.calls("debug_token") == 0
    connection_check(connection=connection, max_age=timedelta(seconds=10))
    assert fb.calls("debug_token") == 1


def test_a_disconnected_connection_is_not_asked_about_and_stays_disconnected(fb, make_connection):
    connection = make_connection(
        status=Status.DISCONNECTED, access_token="", problem_code="disconnected", problem_message="Disconnected."
    )
    result = connection_check(connection=connection)
    assert result.status == Status.DISCONNECTED and not result.passed
    assert result.problem.code == "disconnected"
    assert fb.calls("debug_token") == 0


def test_the_daily_check_covers_every_connection_with_a_token_and_an_ad_account(fb, make_connection, project):
    make_connection()
    make_connection(ad_account_id="", status=Status.NEEDS_ATTENTION, problem_code="ad_account_not_chosen")
    make_connection(ad_account_id="act_222", status=Status.DISCONNECTED, access_token="")
    counts = connections_check_all()
    assert counts == {"checked": 1, "active": 1, "needs_attention": 0, "unavailable": 0}


def test_a_reconnect_facebook_cannot_check_yet_says_so_and_the_later_pass_adds_no_event(fb, make_connection, project):
    from integrations.connections import connection_system_user_token_submit

    connection = make_connection()
    fb.down_from_call = 2  # the token is inspected, then Facebook stops answering
    connection_system_user_token_submit(project=project, token="EAAnewToken", actor=None, connection=connection)
    connection.refresh_from_db()
    assert connection.status == Status.NEEDS_ATTENTION and connection.problem_code == "not_checked"
    assert "Check again" in connection.problem_fix

    fb.down_from_call = None
    assert check(connection).passed
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["connection.reconnected"]
