"""A project's key mapping as schema, download plan, fingerprint and validation."""

from __future__ import annotations

import pytest

from integrations.key_mappings import (
    IDENTIFYING_KEY_REQUIRED,
    MappedKey,
    key_mapping_problems,
    key_plan_build,
    project_key_plan,
    project_mapping_fingerprint,
    project_schema,
)
from integrations.models import KeyMapping


def test_schema_is_in_metas_order_and_the_plan_says_what_to_download(project):
    for key, source, name in [
        ("COUNTRY", "user_property", "country"),
        ("MADID", "device_id", ""),
        ("FI", "user_property", "first_name"),
        ("FN", "user_property", "first_name"),
        ("EMAIL", "user_property", "email"),
        ("EXTERN_ID", "user_id", ""),
    ]:
        KeyMapping.objects.create(project=project, facebook_key=key, source=source, property_name=name)
    plan = project_key_plan(project)
    assert project_schema(project) == plan.schema == ["EXTERN_ID", "EMAIL", "FN", "FI", "MADID", "COUNTRY"]
    assert plan.columns == ["user_id", "email", "first_name", "first_name", "device_id", "country"]
    assert plan.prop_keys == ["email", "first_name", "device_id", "country"]  # user_id always comes
    assert plan.identifying_keys == ["EXTERN_ID", "EMAIL", "MADID"]
    assert plan.default_country == "US"


def test_the_fingerprint_follows_the_mapping_and_the_phone_country(project):
    KeyMapping.objects.create(project=project, facebook_key="EMAIL", source="user_property", property_name="email")
    first = project_mapping_fingerprint(project)
    assert project_mapping_fingerprint(project) == first
    project.default_country = "GB"
    project.save()
    second = project_mapping_fingerprint(project)
    assert second != first
    KeyMapping.objects.filter(project=project).update(property_name="mail")
    assert project_mapping_fingerprint(project) not in (first, second)


@pytest.mark.parametrize(
    ("keys", "refused"),
    [
        ([], True),
        ([MappedKey("FN", "user_property", "first_name"), MappedKey("ZIP", "user_property", "zip")], True),
        ([MappedKey("PHONE", "user_property", "phone")], False),
        ([MappedKey("MADID", "device_id")], False),
        ([MappedKey("EXTERN_ID", "user_id"), MappedKey("GEN", "user_property", "gender")], False),
    ],
)
def test_a_mapping_needs_a_key_that_identifies_a_person(keys, refused):
    assert (IDENTIFYING_KEY_REQUIRED in key_mapping_problems(keys)) is refused


def test_plans_from_unsaved_keys():
    plan = key_plan_build([MappedKey("PHONE", "user_property", "tel")], default_country=None)
    assert plan.schema == ["PHONE"] and plan.default_country is None and plan.has_identifying_key
