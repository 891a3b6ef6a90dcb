"""A staff user sees and changes only their projects, as their role there allows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cohorts.models import Cohort
from integrations.models import FacebookConnection, KeyMapping, Project, ProjectMembership
from syncs.models import SyncBatch, SyncJob, SyncRun

pytestmark = pytest.mark.django_db


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture
def two_projects(project, other_project, make_world):
    return make_world(project), make_world(other_project)


def test_a_member_of_a_never_sees_project_b_objects(client, project, other_project, make_member, two_projects):
    _, world_b = two_projects
    client.force_login(make_member(project, "admin"))
    for obj in [
        other_project,
        world_b["connections"][0],
        world_b["cohorts"][0],
        world_b["jobs"][0],
        world_b["runs"][0],
        world_b["batches"][0],
    ]:
        assert client.get(change_url(obj)).status_code == 404, obj
    page = client.get(changelist_url(Cohort)).content.decode()
    assert "acme cohort 0" in page
    assert "globex cohort 0" not in page
    page = client.get(changelist_url(SyncJob)).content.decode()
    assert "acme audience 0" in page and "globex audience 0" not in page


def test_a_viewer_reads_but_cannot_change_anything(client, project, make_member, two_projects):
    world, _ = two_projects
    client.force_login(make_member(project, "viewer"))
    job = world["jobs"][0]
    assert client.get(change_url(job)).status_code == 200
    response = client.post(change_url(job), {"audience_name": "renamed"})
    assert response.status_code == 403
    assert SyncJob.objects.get(pk=job.pk).audience_name == "acme audience 0"
    for model in [Cohort, SyncJob, KeyMapping, ProjectMembership, FacebookConnection]:
        add = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        assert client.get(add).status_code == 403, model


def test_an_operator_runs_syncs_but_only_admins_touch_connections_and_memberships(
    client, project, make_member, two_projects
):
    world, _ = two_projects
    operator = make_member(project, "operator")
    client.force_login(operator)
    cohort = world["cohorts"][0]
    response = client.post(change_url(cohort), {"project": project.pk, "source": "amplitude",
                                                  "amplitude_cohort_id": "acme0", "name": "Renamed",
                                                  "description": ""})
    assert response.status_code == 302
    assert Cohort.objects.get(pk=cohort.pk).name == "Renamed"

    membership = ProjectMembership.objects.get(user=operator)
    response = client.post(change_url(membership), {"user": operator.pk, "project": project.pk, "role": "admin"})
    assert response.status_code == 403
    assert ProjectMembership.objects.get(pk=membership.pk).role == "operator"
    assert client.post(change_url(world["connections"][0]), {}).status_code == 403


def test_forms_offer_only_the_projects_the_person_may_edit(client, project, other_project, make_member):
    client.force_login(make_member(project, "operator"))
    page = client.get(reverse("admin:integrations_keymapping_add")).content.decode()
    assert "Acme" in page
    assert "Globex" not in page
    response = client.post(
        reverse("admin:integrations_keymapping_add"),
        {"project": other_project.pk, "facebook_key": "EMAIL", "source": "user_property", "property_name": "email"},
    )
    assert response.status_code == 200  # the form refuses the foreign project
    assert not KeyMapping.objects.filter(project=other_project).exists()


def test_superusers_see_every_project(client, superuser, two_projects):
    client.force_login(superuser)
    page = client.get(changelist_url(Project)).content.decode()
    assert "Acme" in page and "Globex" in page


def test_system_records_are_read_only_even_for_superusers(client, superuser, two_projects):
    world, _ = two_projects
    client.force_login(superuser)
    for obj in [world["runs"][0], world["batches"][0]]:
        page = client.get(change_url(obj))
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
        assert client.post(change_url(obj), {}).status_code == 403
    assert client.get(reverse("admin:syncs_syncrun_add")).status_code == 403
    assert SyncRun.objects.count() == 2 and SyncBatch.objects.count() == 2


def test_staff_without_membership_sees_no_project_data(client, django_user_model, two_projects):
    stranger = django_user_model.objects.create_user("stranger", password="pw", is_staff=True)
    client.force_login(stranger)
    index = client.get(reverse("admin:index")).content.decode()
    assert "Sync jobs" not in index and "Cohorts" not in index
    assert client.get(changelist_url(SyncJob)).status_code == 403
