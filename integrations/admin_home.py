"""What ops people see first: the admin home's health per project, and a project's setup checklist.

Both answer "is everything healthy, and if not, what do I do?" from the records the
connection checks, the sync engine and the Amplitude client keep. Reads only, in a fixed
number of queries whatever the number of jobs, runs or members behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from integrations.access import Role, has_project_role, project_ids_with_role
from integrations.connection_problems import EXPIRY_WARNING_DAYS, ProblemCode, expiry_warning
from integrations.key_mappings import project_key_plan
from integrations.models import FacebookConnection, Project

MAX_PROJECTS = 50  # the home lists this many projects; the changelists hold the rest
MAX_JOBS = 500  # jobs read for the home, across its projects


# --- the admin home ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    """Something that needs a person: what is wrong, what to do, and where."""

    title: str
    message: str
    fix: str
    url: str
    kind: str  # "connection", "paused", "held", "failed", "approval", "attention", "expiry"


@dataclass
class JobLine:
    job: object  # syncs.models.SyncJob
    url: str
    size_label: str


@dataclass
class ProjectHealth:
    project: Project
    url: str
    attention: list[Attention] = field(default_factory=list)
    jobs: list[JobLine] = field(default_factory=list)
    usage: object = None  # cohorts.selectors.DownloadUsage

    @property
    def healthy(self) -> bool:
        return not self.attention


def _connection_attention(connections: list[FacebookConnection], now: datetime) -> dict[int, list[Attention]]:
    found: dict[int, list[Attention]] = {}
    for connection in connections:
        url = reverse("admin:integrations_facebookconnection_change", args=[connection.pk])
        title = f"Facebook: {connection.ad_account_name or connection.ad_account_id or 'no ad account chosen'}"
        if connection.status != FacebookConnection.Status.ACTIVE:
            item = Attention(title, connection.problem_message or connection.get_status_display(),
                             connection.problem_fix, url, "connection")
        else:
            warning = expiry_warning(connection.token_expires_at, now=now)
            if not warning:
                continue
            item = Attention(title, warning, "", url, "expiry")
        found.setdefault(connection.project_id, []).append(item)
    return found


def _job_attention(job, url: str) -> Attention | None:
    from syncs.models import SyncJob
    from syncs.pausing import is_held_for_connection

    Status = SyncJob.Status
    title = f"Sync {job.audience_name}"
    if job.status == Status.PAUSED or not job.enabled:
        return Attention(title, job.status_reason or "Paused.", job.status_fix or "Resume it on its page.", url,
                         "paused")
    if job.status == Status.NEEDS_ATTENTION:
        kind = "held" if is_held_for_connection(job) else "attention"
        return Attention(title, job.status_reason, job.status_fix, url, kind)
    if job.status == Status.FAILED:
        return Attention(title, job.status_reason or "The last run failed.", job.status_fix, url, "failed")
    if job.status == Status.AWAITING_APPROVAL:
        return Attention(title, job.status_reason, job.status_fix, url, "approval")
    return None


def admin_home_projects(*, user) -> list[ProjectHealth]:
    """Per project of the person: what needs attention with its fix, each job's last success, quota."""
    from cohorts.selectors import amplitude_usage_this_month
    from syncs.models import SyncJob
    from syncs.selectors import audience_size_label

    ids = project_ids_with_role(user, Role.VIEWER)
    projects = Project.objects.order_by("name")
    if ids is not None:
        projects = projects.filter(pk__in=ids)
    projects = list(projects.only("id", "name")[:MAX_PROJECTS])
    if not projects:
        return []
    project_ids = [p.pk for p in projects]
    now = timezone.now()
    soon = now + timedelta(days=EXPIRY_WARNING_DAYS)
    connections = list(
        FacebookConnection.objects.filter(project_id__in=project_ids)
        .filter(~Q(status=FacebookConnection.Status.ACTIVE) | Q(token_expires_at__lte=soon))
        .only("id", "project_id", "status", "ad_account_id", "ad_account_name", "problem_message", "problem_fix",
              "token_expires_at")
        .order_by("project_id", "id")[:MAX_JOBS]
    )
    by_project = _connection_attention(connections, now)
    jobs = (
        SyncJob.objects.filter(cohort__project_id__in=project_ids)
        .select_related("cohort")
        .only("id", "audience_name", "status", "status_reason", "status_fix", "enabled", "last_success_at",
              "last_run_at", "next_run_at", "audience_lower_bound", "audience_upper_bound", "cohort__id",
              "cohort__name", "cohort__project_id")
        .order_by("cohort__project_id", "audience_name", "id")[:MAX_JOBS]
    )
    usage = amplitude_usage_this_month(project_ids=project_ids)
    health = {
        p.pk: ProjectHealth(
            project=p,
            url=reverse("admin:integrations_project_change", args=[p.pk]),
            attention=list(by_project.get(p.pk, [])),
            usage=usage[p.pk],
        )
        for p in projects
    }
    for job in jobs:
        entry = health[job.cohort.project_id]
        url = reverse("admin:syncs_syncjob_change", args=[job.pk])
        item = _job_attention(job, url)
        if item is not None:
            entry.attention.append(item)
        entry.jobs.append(JobLine(job, url, audience_size_label(job.audience_lower_bound, job.audience_upper_bound)))
    return [health[p.pk] for p in projects]


def admin_home_view(request: HttpRequest) -> HttpResponse:
    """Django's admin index with the health panels above the app list (wrapped by admin_view)."""
    return admin.site.index(request, extra_context={"project_health": admin_home_projects(user=request.user)})


# --- a project's setup checklist ------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupStep:
    title: str
    done: bool
    detail: str  # what is in place, or what is wrong
    todo: str = ""  # what to do next
    url: str = ""  # where to do it
    link_text: str = ""
    allowed: bool = True  # the person's role lets them do it


def _best_connection(connections: list[FacebookConnection]) -> FacebookConnection | None:
    """The connection the checklist speaks about: an active one, else the newest usable one."""
    for connection in connections:
        if connection.status == FacebookConnection.Status.ACTIVE:
            return connection
    usable = [c for c in connections if c.status != FacebookConnection.Status.DISCONNECTED]
    return (usable or connections or [None])[-1]


def _connection_steps(project: Project, connection: FacebookConnection | None, can_admin: bool) -> list[SetupStep]:
    project_url = reverse("admin:integrations_project_change", args=[project.pk]) + "#facebook-connections"
    if connection is None or not connection.access_token or connection.status == "disconnected":
        connect = SetupStep(
            "Connect with Facebook", False,
            "No Facebook ad account is connected." if connection is None else connection.problem_message,
            "Click Continue with Facebook (or paste a system-user token) and choose the ad account.",
            project_url, "Continue with Facebook", can_admin,
        )
        later = "Checked once Facebook is connected."
        return [connect, SetupStep("Custom Audience Terms accepted", False, later),
                SetupStep("Ad account in a Business Manager", False, later)]
    url = reverse("admin:integrations_facebookconnection_change", args=[connection.pk])
    who = connection.facebook_user_name or "a system user"
    if not connection.ad_account_id:
        connect = SetupStep(
            "Connect with Facebook", False, f"Connected as {who}, but no ad account is chosen.",
            "Choose the ad account this project syncs audiences to.",
            reverse("admin:integrations_facebookconnection_ad_account", args=[connection.pk]),
            "Choose the ad account", can_admin,
        )
        later = "Checked once the ad account is chosen."
        return [connect, SetupStep("Custom Audience Terms accepted", False, later),
                SetupStep("Ad account in a Business Manager", False, later)]
    account = f"{connection.ad_account_name or connection.ad_account_id} ({connection.ad_account_id})"
    steps = [SetupStep("Connect with Facebook", True, f"Connected as {who} to {account}.")]
    terms_problem = connection.problem_code == ProblemCode.TERMS_NOT_ACCEPTED
    if connection.terms_status == FacebookConnection.TermsStatus.ACCEPTED and not terms_problem:
        steps.append(SetupStep("Custom Audience Terms accepted", True, "Accepted for this ad account."))
    else:
        not_yet = connection.terms_status == FacebookConnection.TermsStatus.UNKNOWN and not terms_problem
        steps.append(SetupStep(
            "Custom Audience Terms accepted", False,
            "Not checked yet." if not_yet else (connection.problem_message if terms_problem else "Not accepted."),
            "Click Check again on the connection." if not_yet else (
                connection.problem_fix if terms_problem else
                f"{who} must accept the Custom Audience Terms for this ad account, then click Check again."),
            url, "Open the connection", True,
        ))
    bm_problem = connection.problem_code == ProblemCode.NO_BUSINESS_MANAGER
    if connection.business_id and not bm_problem:
        business = connection.business_name or connection.business_id
        steps.append(SetupStep("Ad account in a Business Manager", True, f"In {business}."))
    else:
        steps.append(SetupStep(
            "Ad account in a Business Manager", False,
            connection.problem_message if bm_problem else "Not known yet: Facebook has not confirmed it.",
            connection.problem_fix if bm_problem else "Click Check again on the connection.",
            url, "Open the connection", True,
        ))
    return steps


def _mapping_step(project: Project, can_operate: bool) -> SetupStep:
    plan = project_key_plan(project)
    add_url = reverse("admin:integrations_keymapping_add") + f"?project={project.pk}"
    if plan.has_identifying_key:
        return SetupStep("Key mappings with an identifying key", True,
                         f"Mapped: {', '.join(plan.schema)} (identifying: {', '.join(plan.identifying_keys)}).")
    detail = f"Mapped: {', '.join(plan.schema)}, none of which identifies a person." if plan.keys else "No key mapped."
    return SetupStep(
        "Key mappings with an identifying key", False, detail,
        "Map at least one key that identifies a person (email, phone, mobile advertiser id or external id); "
        "more keys give better matches.",
        add_url, "Add a key mapping", can_operate,
    )


def _synced_step(project: Project, can_operate: bool) -> SetupStep:
    from syncs.models import SyncJob

    jobs = list(
        SyncJob.objects.filter(cohort__project=project).select_related("cohort")
        .only("id", "audience_name", "status", "status_reason", "last_success_at", "cohort__name")
        .order_by("-last_success_at", "-id")[:1]
    )
    if jobs and jobs[0].last_success_at:
        job = jobs[0]
        return SetupStep("A cohort synced", True,
                         f"{job.cohort.name} last synced {job.last_success_at:%Y-%m-%d %H:%M} UTC.",
                         url=reverse("admin:syncs_syncjob_change", args=[job.pk]), link_text="Open the sync")
    if jobs:
        job = jobs[0]
        return SetupStep(
            "A cohort synced", False,
            f"{job.cohort.name}: {job.get_status_display().lower()}. {job.status_reason}".strip(),
            "Open the sync to see its progress or what stops it.",
            reverse("admin:syncs_syncjob_change", args=[job.pk]), "Open the sync", True,
        )
    return SetupStep(
        "A cohort synced", False, "No cohort is synced to Facebook yet.",
        "Open a cohort and click Sync to Facebook.",
        reverse("admin:cohorts_cohort_changelist") + f"?project__id__exact={project.pk}", "Open the cohorts",
        can_operate,
    )


def project_setup_checklist(*, project: Project, user) -> list[SetupStep]:
    """The seed's five setup steps in order, each done or saying what to do next (three queries)."""
    connections = list(project.facebook_connections.order_by("created_at", "id"))
    can_admin = has_project_role(user, project.pk, Role.ADMIN)
    can_operate = has_project_role(user, project.pk, Role.OPERATOR)
    return [
        *_connection_steps(project, _best_connection(connections), can_admin),
        _mapping_step(project, can_operate),
        _synced_step(project, can_operate),
    ]
