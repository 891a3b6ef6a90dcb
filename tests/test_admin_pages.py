"""Every admin list and change page renders what it should, in a bounded number of queries."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db

# Pages are allowed this many queries, whatever the number of rows behind them.
MAX_QUERIES = 25


def admin_pages():
    yield from admin.site._registry.items()


def queries_for(client, url: str) -> tuple[int, int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return response.status_code, len(ctx.captured_queries), response.content.decode()


@pytest.fixture
def world(project, make_world, superuser, client):
    make_world(project, n=2)
    client.force_login(superuser)
    return project


def test_every_changelist_renders_in_bounded_queries_that_do_not_grow_with_rows(client, world, make_world):
    counts = {}
    for model, _ in admin_pages():
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        status, queries, _ = queries_for(client, url)
        assert status == 200, url
        assert queries <= MAX_QUERIES, (url, queries)
        counts[url] = queries
    make_world(world, n=6)  # more rows of everything
    for url, before in counts.items():
        _, after, _ = queries_for(client, url)
        assert after <= before + 1, f"{url}: {before} -> {after} queries (N+1?)"


def test_every_change_page_renders_its_object_and_never_a_secret(client, world):
    for model, _ in admin_pages():
        obj = model._default_manager.first()
        if obj is None:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        status, queries, page = queries_for(client, url)
        assert status == 200, url
        assert queries <= MAX_QUERIES, (url, queries)
        assert "EAAB-secret-token" not in page, url
        assert "fernet:" not in page, url


def test_list_columns_show_what_ops_people_look_for(client, world):
    page = client.get(reverse("admin:syncs_syncjob_changelist")).content.decode()
    for text in ["acme audience 0", "acme cohort 0", "acme account 0", "Not run yet"]:
        assert text in page
    page = client.get(reverse("admin:integrations_facebookconnection_changelist")).content.decode()
    assert "acme account 1" in page and "Active" in page
    page = client.get(reverse("admin:integrations_auditevent_changelist")).content.decode()
    assert "sync.created" in page
