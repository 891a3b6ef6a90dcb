"""The key mapping admin: refusals with the seed's explanation, the re-send warning, one audit event each."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cohorts.models import Cohort
from integrations.key_mappings import IDENTIFYING_KEY_REQUIRED
from integrations.models import AuditEvent, FacebookConnection, KeyMapping
from syncs.models import SyncJob

ADD = "admin:integrations_keymapping_add"
LIST = "admin:integrations_keymapping_changelist"


def change(mapping: KeyMapping) -> str:
    return reverse("admin:integrations_keymapping_change", args=[mapping.pk])


def delete(mapping: KeyMapping) -> str:
    return reverse("admin:integrations_keymapping_delete", args=[mapping.pk])


@pytest.fixture
def operator(client, project, make_member):
    user = make_member(project, "operator")
    client.force_login(user)
    return user


@pytest.fixture
def email_key(project) -> KeyMapping:
    return KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property",
                                     property_name="email")


def events() -> int:
    return AuditEvent.objects.filter(action="key_mapping.changed").count()


def test_a_first_key_that_identifies_nobody_is_refused_with_the_explanation(client, project, operator):
    response = client.post(
        reverse(ADD), {"project": project.pk, "facebook_key": "FN", "source": "user_property",
                       "property_name": "first_name"}
    )
    assert response.status_code == 200
    assert IDENTIFYING_KEY_REQUIRED in response.content.decode().replace("&#x27;", "'")
    assert not KeyMapping.objects.exists()
    assert events() == 0


def test_adding_keys_once_one_identifies_each_leaves_one_event(client, project, operator, email_key):
    response = client.post(
        reverse(ADD), {"project": project.pk, "facebook_key": "FN", "source": "user_property",
                       "property_name": "first_name"}
    )
    assert response.status_code == 302
    assert events() == 1


def test_changing_the_only_identifying_key_into_a_helper_is_refused(client, project, operator, email_key):
    response = client.post(
        change(email_key), {"project": project.pk, "facebook_key": "ZIP", "source": "user_property",
                            "property_name": "zip"}
    )
    assert response.status_code == 200
    assert KeyMapping.objects.get(pk=email_key.pk).facebook_key == "EMAIL"
    assert events() == 0


def test_a_device_id_source_drops_a_leftover_property_name(client, project, operator, email_key):
    response = client.post(
        reverse(ADD), {"project": project.pk, "facebook_key": "MADID", "source": "device_id", "property_name": "x"}
    )
    assert response.status_code == 302
    assert KeyMapping.objects.get(facebook_key="MADID").property_name == ""


def test_deleting_the_last_identifying_key_is_refused(client, project, operator, email_key):
    KeyMapping.objects.create(project=project, facebook_key="FN", source="user_property", property_name="first_name")
    response = client.post(delete(email_key), {"post": "yes"}, follow=True)
    assert IDENTIFYING_KEY_REQUIRED in response.content.decode().replace("&#x27;", "'")
    assert KeyMapping.objects.filter(pk=email_key.pk).exists()
    response = client.post(
        reverse(LIST),
        {"action": "delete_selected", "_selected_action": [email_key.pk], "post": "yes"},
        follow=True,
    )
    assert "Nothing was deleted" in response.content.decode()
    assert KeyMapping.objects.filter(pk=email_key.pk).exists()
    assert events() == 0


def test_deleting_a_key_when_another_identifies_is_allowed_and_audited(client, project, operator, email_key):
    phone = KeyMapping.objects.create(project=project, facebook_key="PHONE", source="user_property",
                                      property_name="phone")
    response = client.post(delete(phone), {"post": "yes"})
    assert response.status_code == 302
    assert not KeyMapping.objects.filter(pk=phone.pk).exists()
    assert events() == 1


def test_changing_the_mapping_of_a_synced_project_warns_that_everyone_is_re_sent(client, project, operator, email_key):
    cohort = Cohort.objects.create(project=project, amplitude_cohort_id="c1", name="Buyers")
    connection = FacebookConnection.objects.create(project=project, ad_account_id="act_1")
    SyncJob.objects.create(cohort=cohort, connection=connection, audience_name="A", last_success_at=timezone.now())

    page = client.get(change(email_key)).content.decode()
    assert "re-sends every member with the new keys" in page

    response = client.post(
        change(email_key),
        {"project": project.pk, "facebook_key": "EMAIL", "source": "user_property", "property_name": "mail"},
        follow=True,
    )
    assert "re-sends every member with the new keys" in response.content.decode()
    assert events() == 1
