"""The hourly cohort-list task and its schedule."""

from __future__ import annotations

from cohorts.models import AmplitudeListStatus, Cohort
from cohorts.tasks import cohort_lists_refresh_all
from config.schedules import declared_schedules
from integrations.models import Project

from .conftest import AMPLITUDE, cohort_list_body


def test_every_project_with_keys_is_refreshed_and_failures_recorded(amp_project, mocked_amplitude):
    Project.objects.create(name="No keys", slug="nokeys")
    broken = Project.objects.create(
        name="Broken", slug="broken", amplitude_api_key="bad", amplitude_secret_key="bad", amplitude_region="EU"
    )
    good_auth = "Basic a2V5LTEyMzpzZWNyZXQtNDU2"  # key-123:secret-456
    mocked_amplitude.get(
        f"{AMPLITUDE}/api/3/cohorts",
        json=cohort_list_body({"id": "c1", "name": "Buyers", "lastComputed": 1}),
        match=[lambda request: (request.headers.get("Authorization") == good_auth, "")],
    )
    mocked_amplitude.get(f"{AMPLITUDE}/api/3/cohorts", status=403, json={"error": "forbidden"})

    assert cohort_lists_refresh_all() == {"refreshed": 1, "failed": 1}

    assert Cohort.objects.filter(project=amp_project, name="Buyers").exists()
    status = AmplitudeListStatus.objects.get(project=broken)
    assert status.error_code == "amplitude_auth" and "API key and secret key" in status.error_fix


def test_the_hourly_schedule_is_declared():
    specs = {spec.name: spec for spec in declared_schedules()}
    spec = specs["cohorts.cohort_lists_refresh_hourly"]
    assert (spec.func, spec.schedule_type) == ("cohorts.tasks.cohort_lists_refresh_all", "H")
