"""The sync job page: progress (and its JSON), history, charts, notices, the batch log and its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from syncs.models import SyncBatch, SyncRun

from .conftest import seen

pytestmark = pytest.mark.django_db


def job_url(job) -> str:
    return reverse("admin:syncs_syncjob_change", args=[job.pk])


def test_a_running_run_shows_batches_and_rows_done_of_the_total(client, world, operator):
    world.run(ago=timedelta(hours=1), rows_added=500)
    world.run(status=SyncRun.Status.RUNNING, mode_used="changes", rows_to_add=30_000, rows_to_remove=10_000,
              rows_added=10_000, rows_removed=10_000, batches_planned=4, batches_done=2)
    client.force_login(operator)
    page = client.get(job_url(world.job))
    text = seen(page)
    assert "Current run" in text
    assert "50% · 2 of 4 batches, 20,000 of 40,000 rows · Sending removals and additions" in text
    assert 'aria-valuenow="50"' in page.content.decode()
    assert "ops/progress.js" in page.content.decode()  # served by the project, no CDN


def test_the_progress_json_follows_the_run_and_reaches_100_percent(client, world, operator):
    run = world.run(status=SyncRun.Status.RUNNING)
    client.force_login(operator)
    url = reverse("admin:syncs_syncjob_progress", args=[world.job.pk])
    first = client.get(url).json()["progress"]
    assert first["running"] and first["percent"] is None and first["phase"].startswith("Preparing")

    SyncRun.objects.filter(pk=run.pk).update(mode_used="changes", rows_to_add=25_000, rows_added=10_000,
                                             batches_planned=3, batches_done=1)
    middle = client.get(url).json()["progress"]
    assert (middle["percent"], middle["summary"]) == (40, "1 of 3 batches, 10,000 of 25,000 rows")

    SyncRun.objects.filter(pk=run.pk).update(status="succeeded", rows_added=25_000, batches_done=3)
    done = client.get(url).json()
    assert done["progress"]["percent"] == 100 and not done["progress"]["running"]
    assert done["job"]["status"] == world.job.status
    assert client.get(url)["Cache-Control"].startswith("max-age=0")


def test_a_replace_counts_the_whole_cohort_and_a_failed_run_says_why(client, world, operator):
    run = world.run(status=SyncRun.Status.RUNNING, mode_used="replace", rows_to_add=100, rows_unchanged=900,
                    rows_added=500, batches_planned=1)
    client.force_login(operator)
    url = reverse("admin:syncs_syncjob_progress", args=[world.job.pk])
    assert client.get(url).json()["progress"]["percent"] == 50
    SyncRun.objects.filter(pk=run.pk).update(status="stopped", error_message="Terms not accepted.",
                                             error_fix="Accept them at https://example.test/tos")
    failed = client.get(url).json()["progress"]
    assert (failed["percent"], failed["error_message"]) == (50, "Terms not accepted.")
    page = seen(client.get(job_url(world.job)))
    assert "Terms not accepted. What to do: Accept them at https://example.test/tos" in page


def test_the_history_shows_totals_newest_first_and_pages_by_keyset(client, world, operator):
    for i in range(45):
        world.run(ago=timedelta(hours=45 - i), rows_added=i, rows_removed=1)
    client.force_login(operator)
    page = client.get(job_url(world.job))
    text = page.content.decode()
    newest = SyncRun.objects.order_by("-started_at").first()
    assert f"#{newest.pk}" in text and text.count('class="ops-run-succeeded"') == 20
    older = page.context["runs_page"].older_cursor
    second = client.get(job_url(world.job) + f"?runs_before={older}")
    runs = second.context["runs_page"].runs
    assert len(runs) == 20 and runs[0].started_at < page.context["runs_page"].runs[-1].started_at
    third = client.get(job_url(world.job) + f"?runs_before={second.context['runs_page'].older_cursor}")
    assert len(third.context["runs_page"].runs) == 5 and third.context["runs_page"].older_cursor is None


def test_charts_draw_the_size_range_and_the_changes_per_run_as_inline_svg(client, world, operator):
    world.run(ago=timedelta(days=3), rows_added=800, audience_lower_bound=0, audience_upper_bound=1000)
    world.run(ago=timedelta(days=2), rows_added=5000, rows_removed=200, audience_lower_bound=4500,
              audience_upper_bound=5300)
    world.run(ago=timedelta(days=1), status="failed", rows_added=0, rows_removed=0)
    client.force_login(operator)
    page = client.get(job_url(world.job))
    charts = page.context["charts"]
    assert len(charts.size_bars) == 2 and len(charts.change_bars) == 3
    small, large = charts.size_bars
    assert small.below_threshold and not large.below_threshold
    assert large.y < small.y  # a bigger audience reaches higher
    added = [bar.added_height for bar in charts.change_bars]
    assert added[1] > added[0] > added[2] == 0 and charts.change_bars[1].removed_height > 0
    body = page.content.decode()
    assert body.count("role=\"img\"") == 2 and 'class="threshold"' in body
    assert "below 1,000" in body and "+5,000 / -200" in body


def test_notices_say_below_1000_fewer_than_100_and_the_matching_delay(client, world, operator):
    world.job.audience_lower_bound, world.job.audience_upper_bound = 0, 1000
    world.job.save()
    world.run(notices=["The cohort has 42 sendable members: Facebook is unlikely to use an audience of fewer "
                       "than 100 people."], audience_lower_bound=0, audience_upper_bound=1000)
    client.force_login(operator)
    text = seen(client.get(job_url(world.job)))
    assert "Size: below 1,000" in text
    assert "fewer than 100 people" in text
    assert "up to an hour to match added people and up to a day to process removals" in text


def test_the_batch_log_of_a_run_filters_to_failures(client, world, operator):
    run = world.run(status="failed")
    for seq in range(1, 6):
        world.batch(run, seq, status="failed" if seq == 4 else "confirmed", error_code="terms" if seq == 4 else "")
    other = world.run(ago=timedelta(days=1))
    world.batch(other, 1, status="failed")
    client.force_login(operator)
    base = reverse("admin:syncs_syncbatch_changelist") + f"?run__id__exact={run.pk}"
    everything = client.get(base)
    assert everything.status_code == 200 and len(everything.context["cl"].result_list) == 5
    assert f"Batches of run #{run.pk}" in seen(everything) and "Failures only" in seen(everything)
    failures = client.get(base + "&status__exact=failed")
    assert [b.sequence for b in failures.context["cl"].result_list] == [4]
    batch = SyncBatch.objects.get(run=run, sequence=4)
    log = seen(client.get(reverse("admin:syncs_syncbatch_change", args=[batch.pk])))
    assert "Facebook's answer" in log and "Problem and fix" in log


def test_long_lists_never_count_past_ten_thousand(client, world, operator, monkeypatch):
    from syncs.admin import BoundedCountPaginator

    monkeypatch.setattr(BoundedCountPaginator, "COUNT_CAP", 3)
    run = world.run()
    for seq in range(1, 6):
        world.batch(run, seq)
    client.force_login(operator)
    page = client.get(reverse("admin:syncs_syncbatch_changelist"))
    assert "More than 3 rows" in seen(page) and "Show counts" not in seen(page)


def test_viewers_see_the_page_but_not_the_lookup_and_strangers_get_404(client, world, viewer, other_project,
                                                                         make_member):
    client.force_login(viewer)
    page = client.get(job_url(world.job))
    assert page.status_code == 200 and "Is this person in the audience?" not in seen(page)
    assert client.get(reverse("admin:syncs_syncjob_progress", args=[world.job.pk])).status_code == 200
    assert client.post(reverse("admin:syncs_syncjob_find_member", args=[world.job.pk]),
                       {"key": "EMAIL", "value": "a@b.example"}).status_code == 403
    client.force_login(make_member(other_project, "admin", username="stranger"))
    assert client.get(reverse("admin:syncs_syncjob_progress", args=[world.job.pk])).status_code == 404
    assert client.get(reverse("admin:syncs_syncjob_find_member", args=[world.job.pk])).status_code == 404
