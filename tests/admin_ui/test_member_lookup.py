"""Member lookup: an email or phone number, encoded in memory, answered from the job's ledger,
and never stored, logged, audited or echoed."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from integrations.models import AuditEvent

from .conftest import digest, seen

pytestmark = pytest.mark.django_db

EMAIL = "Jane.Doe+Ads@Example.COM "  # as a support person might paste it
NORMALISED_EMAIL = "jane.doe+ads@example.com"


def lookup(client, job, value: str, key: str = "EMAIL"):
    return client.post(reverse("admin:syncs_syncjob_find_member", args=[job.pk]), {"key": key, "value": value})


@pytest.fixture
def history(world):
    """Jane is in the audience (added by batch 3 of an old run); Max was added then removed."""
    old = world.run(ago=timedelta(days=10))
    added = world.batch(old, 3)
    world.ledger(NORMALISED_EMAIL, batch=added, phone="15555550123", at=timezone.now() - timedelta(days=10))
    later = world.run(ago=timedelta(days=2))
    removal = world.batch(later, 1, operation="remove")
    world.ledger("max@example.com", batch=added, removed_by=removal, at=timezone.now() - timedelta(days=9))
    return {"added": added, "removal": removal}


def test_a_member_is_found_with_since_when_and_the_batch_that_added_them(client, world, operator, history):
    client.force_login(operator)
    response = lookup(client, world.job, EMAIL)
    text = seen(response)
    assert response.status_code == 200
    assert "In the audience through this sync since" in text
    assert f"batch 3 of run #{history['added'].run_id}" in text
    added_on = (timezone.now() - timedelta(days=10)).strftime("%Y-%m-%d")
    assert added_on in text


def test_a_phone_number_is_encoded_with_the_projects_default_country(client, world, operator, history):
    client.force_login(operator)
    text = seen(lookup(client, world.job, "(555) 555-0123", key="PHONE"))  # a US national number
    assert "In the audience through this sync since" in text


def test_a_removed_member_says_when_and_by_which_batch(client, world, operator, history):
    client.force_login(operator)
    text = seen(lookup(client, world.job, "MAX@example.com"))
    assert "Not in the audience any more: removed on" in text
    assert f"batch 1 of run #{history['removal'].run_id}" in text


def test_an_unknown_or_unusable_value_says_so(client, world, operator, history):
    client.force_login(operator)
    assert "has never sent this email address to Facebook" in seen(lookup(client, world.job, "who@example.com"))
    assert "not a usable email address" in seen(lookup(client, world.job, "not-an-email"))
    assert "Email or phone number: This field is required." in seen(lookup(client, world.job, ""))


def test_the_typed_value_is_never_stored_logged_audited_or_sent_back(client, world, operator, history, caplog):
    client.force_login(operator)
    secret_values = [EMAIL.strip(), NORMALISED_EMAIL, digest(NORMALISED_EMAIL), "nobody@example.org",
                     digest("nobody@example.org")]
    caplog.set_level(logging.DEBUG)
    responses = [lookup(client, world.job, EMAIL), lookup(client, world.job, "nobody@example.org")]

    for response in responses:
        body = response.content.decode()
        assert response.status_code == 200 and "?" not in response.request["PATH_INFO"]
        assert "Jane" not in body and "nobody@" not in body and digest(NORMALISED_EMAIL) not in body
        assert not list(get_messages(response.wsgi_request))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not any(value.lower() in logged.lower() for value in secret_values[:2] + secret_values[3:4])

    events = list(AuditEvent.objects.filter(action="sync.member_lookup").order_by("id"))
    assert [e.changes["outcome"] for e in events] == ["in the audience", "not found"]
    assert all(e.actor == operator and e.changes["key"] == "EMAIL" for e in events)
    # Nothing typed (nor its digest, for the person not in the ledger) sits anywhere in the database.
    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # names from introspection
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row).lower()
                assert "jane.doe" not in text and "nobody@" not in text, table
                assert digest("nobody@example.org") not in text, table
    assert "value" not in client.session


def test_error_reports_would_hide_the_posted_value(client, world, operator, rf):
    from django.views.debug import SafeExceptionReporterFilter

    client.force_login(operator)
    response = lookup(client, world.job, EMAIL)
    request = response.wsgi_request
    cleaned = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleaned["value"] != EMAIL and "*" in cleaned["value"]


def test_the_job_page_form_posts_to_the_lookup_page(client, world, operator):
    client.force_login(operator)
    page = client.get(reverse("admin:syncs_syncjob_change", args=[world.job.pk])).content.decode()
    url = reverse("admin:syncs_syncjob_find_member", args=[world.job.pk])
    assert f'<form method="post" action="{url}"' in page
