"""django-q2 tasks of the cohorts app: thin doors into the services (each is idempotent)."""

from __future__ import annotations

import logging

from cohorts.errors import CohortError
from cohorts.models import Cohort
from cohorts.services import cohort_members_refresh, cohorts_sync_from_amplitude
from integrations.models import Project

logger = logging.getLogger(__name__)


def cohort_lists_refresh_all() -> dict[str, int]:
    """Hourly: every project's cohort list (names, sizes, lastComputed); never a download.

    A failing project does not stop the others: its outcome (error and fix) is recorded on
    its AmplitudeListStatus and shown beside its cohorts.
    """
    done = failed = 0
    for project in Project.objects.order_by("pk"):
        if not project.has_amplitude_credentials:
            continue
        try:
            cohorts_sync_from_amplitude(project=project)
        except CohortError as error:
            failed += 1
            logger.warning("Cohort list of project %s failed: %s", project.pk, error.code)
        else:
            done += 1
    return {"refreshed": done, "failed": failed}


def cohort_list_refresh(project_id: int) -> str:
    project = Project.objects.get(pk=project_id)
    result = cohorts_sync_from_amplitude(project=project)
    return f"{result.seen} cohorts ({result.created} new, {result.updated} updated, {result.archived} archived)"


def cohort_members_refresh_task(cohort_id: int, force: bool = False, user_id: int | None = None) -> str:
    from django.contrib.auth import get_user_model

    cohort = Cohort.objects.select_related("project").get(pk=cohort_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    record = cohort_members_refresh(cohort=cohort, force=force, user=user)
    return record.status
