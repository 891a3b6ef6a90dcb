"""The connection page leads to what people do next with the ad account."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.models import FacebookConnection

pytestmark = pytest.mark.django_db


def test_operators_find_the_ad_spend_backfill_on_the_connection_page(client, project, make_member):
    connection = FacebookConnection.objects.create(
        project=project, ad_account_id="act_5", ad_account_name="Main", status="active", access_token="EAAB-x"
    )
    client.force_login(make_member(project, "operator"))
    page = client.get(reverse("admin:integrations_facebookconnection_change", args=[connection.pk])).content.decode()
    assert f"backfill/?connection={connection.pk}" in page
    client.force_login(make_member(project, "viewer"))
    page = client.get(reverse("admin:integrations_facebookconnection_change", args=[connection.pk])).content.decode()
    assert "backfill/?connection=" not in page
