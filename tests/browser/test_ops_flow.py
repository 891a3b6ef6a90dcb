"""A project admin's whole day in a real browser, against the live server and its sandboxes.

Log in; connect with Facebook through the sandbox dialog; meet the Terms error and fix it;
map keys and read the key-quality preview; create a daily sync and watch its progress bar
reach 100% (and again with Run now); open a batch's log; find a member by email; disconnect
and reconnect as another person; find all of it in the audit review. Screenshots of every
step go to test-artifacts/browser/.
"""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth import get_user_model

from integrations.facebook.match_keys import encode
from integrations.models import AuditEvent, FacebookConnection, Project, ProjectMembership
from integrations.sandbox import services as sandbox
from integrations.sandbox.population import amplitude_properties, person
from syncs.models import AudienceMember, SyncJob, SyncRun

pytestmark = pytest.mark.usefixtures("transactional_db")

PASSWORD = "correct horse battery staple"


@pytest.fixture
def stage(live_server, settings):
    settings.SANDBOX_REQUIRE_APPSECRET_PROOF = False
    settings.GRAPH_RETRY_BASE_DELAY = 0.0
    # Small batches, one lane, and a little latency at "Facebook": a run of the 5,000-member
    # cohort takes a few seconds, long enough to be seen in progress.
    settings.SYNC_BATCH_MAX_ROWS = 250
    settings.SYNC_UPLOAD_CONCURRENCY = 1
    seeded = sandbox.sandbox_seed()
    sandbox.sandbox_fault_switch_set(ad_account_id=seeded["terms"].act_id, latency_ms=120)
    project = Project.objects.create(
        name="Acme Outdoor", slug="acme-outdoor", default_country="US", amplitude_project_id="sandbox",
        amplitude_api_key="sandbox-api-key", amplitude_secret_key="sandbox-secret-key",
    )
    ada = get_user_model().objects.create_user("ada", password=PASSWORD, is_staff=True)
    ProjectMembership.objects.create(user=ada, project=project, role=ProjectMembership.Role.ADMIN)
    return {"url": live_server.url, "project": project, "seeded": seeded}


def text_of(page) -> str:
    return " ".join(page.inner_text("body").split())


def go(page, locator) -> None:
    """Click something that loads a new page, and wait for that page."""
    with page.expect_navigation():
        locator.click()


def dialog_continue_as(page, name: str) -> None:
    """The sandbox's Facebook dialog: choose the person, keep the scopes, leave the Terms box alone."""
    assert re.match(r".*/sandbox/v\d+\.\d+/dialog/oauth.*", page.url), page.url
    page.get_by_label(name).check()
    go(page, page.get_by_role("button", name="Continue"))


def watch_progress_to_100(page, timeout_s: float = 90) -> list:
    """What the bar said, read every 200 ms without reloading, until it says 100%."""
    from playwright.sync_api import Error as PlaywrightError

    seen: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = page.get_attribute("[role=progressbar]", "aria-valuenow", timeout=1000)
        except PlaywrightError:  # no bar yet, or the page reloading itself when the first run starts
            value = "absent"
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == "100":
            return seen
        page.wait_for_timeout(200)
    raise AssertionError(f"the progress bar never reached 100%: {seen}")


def a_member_email(job: SyncJob) -> str:
    """An email of someone the sync placed in the audience, typed as Amplitude holds it (messy)."""
    digests = {row.split('"')[1] for row in AudienceMember.objects.filter(job=job, present=True)
               .values_list("row", flat=True)}
    for index in range(20_000):
        raw = amplitude_properties(person(index))["email"]
        if raw and raw != raw.strip().lower() and encode("EMAIL", raw) in digests:
            return raw
    raise AssertionError("no member email found in the sandbox population")


def test_a_project_admin_sets_up_syncs_watches_a_run_and_answers_a_support_question(
    page, shot, stage, sync_runs_in_a_worker_thread
):
    started = time.monotonic()
    url, project, seeded = stage["url"], stage["project"], stage["seeded"]
    terry, robin = seeded["terms"], seeded["ready"]

    # --- log in; the home says what to do ------------------------------------------------------
    page.goto(f"{url}/admin/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    go(page, page.get_by_role("button", name="Log in"))
    page.wait_for_selector("#project-health")
    assert "Acme Outdoor" in text_of(page)
    shot("home before setup")

    go(page, page.get_by_role("link", name="Acme Outdoor").first)
    assert "Connect with Facebook — next step" in text_of(page)
    shot("project setup checklist")

    # --- connect through the sandbox dialog as Terry, who has not accepted the Terms -------------
    go(page, page.get_by_role("button", name="Continue with Facebook"))
    dialog_continue_as(page, "Terry Terms")
    assert re.match(r".*/ad-account/.*", page.url), page.url
    shot("choose the ad account")
    page.check(f"input[value='{terry.act_id}']")
    go(page, page.get_by_role("button", name="Use this ad account"))
    assert re.match(r".*/facebookconnection/\d+/change/(#.*)?$", page.url), page.url
    body = text_of(page)
    assert "Needs attention" in body and "Terms" in body and "Fix:" in body
    shot("terms not accepted")

    # Terry accepts the Terms at Facebook (the sandbox's switch for the ad account), then checks again.
    sandbox.sandbox_terms_set(ad_account_id=terry.act_id, accepted=True)
    go(page, page.get_by_role("button", name="Check again"))
    page.wait_for_load_state()
    assert "Active" in text_of(page) and "Problem:" not in text_of(page)
    shot("terms accepted and checked again")
    connection = FacebookConnection.objects.get(project=project)

    # --- map keys ---------------------------------------------------------------------------------
    for key, prop in (("EMAIL", "email"), ("PHONE", "phone")):
        page.goto(f"{url}/admin/integrations/keymapping/add/?project={project.pk}")
        page.select_option("#id_facebook_key", key)
        page.select_option("#id_source", "user_property")
        page.fill("#id_property_name", prop)
        go(page, page.get_by_role("button", name="Save", exact=True))
        assert re.match(r".*/keymapping/$", page.url), page.url
    shot("key mappings")

    # --- the cohort list from Amplitude, then the key-quality preview --------------------------------
    page.goto(f"{url}/admin/cohorts/cohort/refresh-list/")
    page.select_option("select", str(project.pk))
    go(page, page.get_by_role("button", name="Refresh"))
    go(page, page.get_by_role("link", name="Trial users"))
    go(page, page.get_by_role("link", name="Key quality"))
    go(page, page.get_by_role("button", name=re.compile("Download the members now")))
    page.wait_for_selector("#key-quality")
    preview = text_of(page)
    assert "EMAIL" in preview and "PHONE" in preview and "would be sent" in preview
    assert "@" not in page.inner_text("#example-rows")  # digests only, never an address
    shot("key quality preview")

    # --- a daily sync; its first run is watched to 100% ----------------------------------------------
    go(page, page.get_by_role("link", name="Trial users").last)
    go(page, page.get_by_role("link", name="Sync to Facebook"))
    page.select_option("#id_connection", str(connection.pk))
    page.select_option("#id_cadence", "daily")
    go(page, page.get_by_role("button", name="Sync to Facebook"))
    page.wait_for_selector("#run-progress")
    job = SyncJob.objects.get(cohort__project=project)
    seen = watch_progress_to_100(page)
    assert any(value not in ("absent", "100") for value in seen), f"never saw the run in progress: {seen}"
    assert "Healthy" in text_of(page) or SyncJob.objects.get(pk=job.pk).status == "succeeded"
    shot("first run at 100 percent")
    first_run = SyncRun.objects.filter(job=job).latest("started_at")
    assert first_run.status == "succeeded" and first_run.rows_added > 1000

    # Run now: the page follows the new run to 100% without a reload.
    page.reload()
    go(page, page.get_by_role("button", name="Run now"))
    page.wait_for_selector("#run-progress")
    page.wait_for_function(f"() => document.querySelector('.ops-progress-run-id').textContent !== '{first_run.pk}'",
                           timeout=30_000)
    watch_progress_to_100(page)
    assert SyncRun.objects.filter(job=job).count() == 2
    shot("run now at 100 percent")

    # --- a batch's log -------------------------------------------------------------------------------
    page.reload()
    go(page, page.locator("#run-history a", has_text=re.compile(r"^\d+ of \d+$")).last)
    assert f"Batches of run #{first_run.pk}" in text_of(page)
    go(page, page.locator("#result_list tbody tr th a").first)
    log = text_of(page)
    assert "Facebook's answer" in log and "Confirmed by Facebook" in log
    shot("a batch log")

    # --- a support question: is this person in the audience? -------------------------------------------
    email = a_member_email(job)
    page.goto(f"{url}/admin/syncs/syncjob/{job.pk}/change/")
    page.select_option("#member-lookup select", "EMAIL")
    page.fill("#member-lookup input[name=value]", email)
    go(page, page.get_by_role("button", name="Find"))
    page.wait_for_selector("#lookup-answer")
    answer = text_of(page)
    assert "In the audience through this sync since" in answer and f"of run #{first_run.pk}" in answer
    assert email.strip() not in page.content() and "?" not in page.url
    shot("member found")

    # --- disconnect, then reconnect as Robin ---------------------------------------------------------------
    page.goto(f"{url}/admin/integrations/facebookconnection/{connection.pk}/change/")
    go(page, page.get_by_role("link", name="Disconnect"))
    go(page, page.get_by_role("button", name="Yes, disconnect"))
    assert "Disconnected" in text_of(page)
    shot("disconnected")
    sandbox.sandbox_role_set(ad_account_id=terry.act_id, person=robin.person, role="admin")
    go(page, page.get_by_role("button", name="Reconnect as another person"))
    dialog_continue_as(page, "Robin Ready")
    assert re.match(r".*/facebookconnection/\d+/change/(#.*)?$", page.url), page.url
    body = text_of(page)
    assert "Active" in body and "Robin Ready" in body
    shot("reconnected as robin")

    # --- the audit review shows every action ---------------------------------------------------------------
    page.goto(f"{url}/admin/integrations/auditevent/?project__id__exact={project.pk}")
    review = text_of(page)
    for action in ("connection.connected", "connection.ad_account_chosen", "connection.check_passed",
                   "key_mapping.changed", "sync.created", "sync.run_manually", "sync.member_lookup",
                   "connection.disconnected", "connection.reconnected"):
        assert action in review, action
    assert email.strip() not in review
    shot("audit review")
    assert not AuditEvent.objects.filter(changes__icontains=email.strip().lower()).exists()

    # --- back home: healthy again, with the last successful sync and the Amplitude quota ------------------
    page.goto(f"{url}/admin/")
    home = text_of(page)
    assert "Acme Outdoor — everything is healthy" in home and "Trial users" in home
    assert re.search(r"Amplitude: \d+ of 500 downloads this month", home)
    shot("home after setup")
    print(f"\n[browser] the whole flow took {time.monotonic() - started:.1f} s")
