"""Run one sync job now, in the foreground, through the same service as the schedule."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from syncs.models import SyncJob, SyncRun
from syncs.runner import sync_run_execute


class Command(BaseCommand):
    help = "Run a sync job now and print its totals; exit status 0 only when the run succeeded."

    def add_arguments(self, parser):
        parser.add_argument("job_id", type=int)
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")

    def handle(self, *args, job_id: int, as_json: bool = False, **options):
        if not SyncJob.objects.filter(pk=job_id).exists():
            raise CommandError(f"There is no sync job {job_id}.")
        report = sync_run_execute(job_id=job_id, trigger=SyncRun.Trigger.COMMAND)
        if as_json:
            self.stdout.write(_json_dumps(report.as_dict()))
        else:
            self.stdout.write(
                f"Run {report.run_id}: {report.status}. Added {report.rows_added}, removed {report.rows_removed}, "
                f"unchanged {report.rows_unchanged}, skipped {report.rows_skipped}; {report.batches} batches, "
                f"{report.graph_calls} Graph calls. Audience {report.audience_id or '-'}."
            )
            if report.message:
                self.stdout.write(f"{report.message}" + (f"\nFix: {report.fix}" if report.fix else ""))
        if not report.succeeded:
            raise SystemExit(1)


def _json_dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
