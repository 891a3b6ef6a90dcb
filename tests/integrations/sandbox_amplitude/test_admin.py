"""The Amplitude sandbox's admin: add a cohort, move 1% of a cohort, flip the failure switches."""

from __future__ import annotations

from django.urls import reverse

from integrations.sandbox.amplitude import services
from integrations.sandbox.amplitude.models import SandboxCohort


def test_add_a_cohort_and_change_one_percent(client, superuser):
    project = services.sandbox_amplitude_seed()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:amplitude_sandbox_sandboxcohort_add"),
        {"project": project.pk, "name": "From the admin", "description": "", "size": 1000, "seed": 3,
         "drift_per_hour": 0, "drift_anchor_0": "2026-01-01", "drift_anchor_1": "00:00:00",
         "created_at_0": "2026-01-01", "created_at_1": "00:00:00"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    cohort = SandboxCohort.objects.get(name="From the admin")
    assert cohort.pool_size == 1250 and len(cohort.cohort_id) == 7
    response = client.post(
        reverse("admin:amplitude_sandbox_sandboxcohort_changelist"),
        {"action": "change_one_percent", "_selected_action": [cohort.pk]},
        follow=True,
    )
    assert "From the admin: 7 left, 7 joined, 3 changed email." in response.content.decode()
