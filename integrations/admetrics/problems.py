"""Why an ad spend import stopped, in words an operator can act on.

Graph failures arrive as `integrations.facebook.errors.GraphError` (already typed, with
a fix); these are the import's own reasons. `problem_from_graph_error` turns either
into what the import record shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from integrations.facebook.errors import GraphError, PermissionMissing, RateLimited, TokenInvalid

ADS_READ_FIX = (
    "Reconnect Facebook granting ads_read (the ad spend import reads reports with it), "
    "then backfill the days that were missed."
)


class ImportProblem(Exception):
    kind = "import_problem"
    default_fix = "See the message; run the import again once it is fixed."

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix or self.default_fix


class ScopeMissing(ImportProblem):
    kind = "scope_missing"
    default_fix = ADS_READ_FIX


class ConnectionUnusable(ImportProblem):
    kind = "connection_unusable"
    default_fix = "Connect Facebook again for this project and choose the ad account."


class ReportRunFailed(ImportProblem):
    kind = "report_run_failed"
    default_fix = (
        "Facebook could not produce the report. Run the backfill again later, or in shorter ranges "
        "(a month at a time): Meta fails large asynchronous reports more often."
    )


class ReportRunTimedOut(ImportProblem):
    kind = "report_run_timed_out"
    default_fix = (
        "Facebook had not finished the report in time. Run the backfill again, or in shorter ranges; "
        "ADMETRICS_REPORT_MAX_WAIT_SECONDS sets how long an import waits."
    )


class RowUnreadable(ImportProblem):
    kind = "row_unreadable"
    default_fix = "Facebook sent a row the import cannot read: report it with the import's id."


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    fix: str


def problem_from_error(error: Exception) -> Problem:
    if isinstance(error, ImportProblem):
        return Problem(error.kind, error.message, error.fix)
    if isinstance(error, GraphError):
        return Problem(error.kind, str(error), _graph_fix(error))
    raise TypeError(f"Not an import problem: {error!r}")


def _graph_fix(error: GraphError) -> str:
    if isinstance(error, PermissionMissing):
        # Reading reports needs ads_read (or ads_management) and a role on the ad account.
        return f"{ADS_READ_FIX} If the scope is granted, {error.fix[0].lower()}{error.fix[1:]}"
    if isinstance(error, RateLimited):
        return (
            "Facebook is throttling this ad account's report calls. The next daily import re-reads the "
            "trailing window; for a backfill, start it again later."
        )
    if isinstance(error, TokenInvalid):
        return f"{error.fix} Then backfill the days that were missed."
    return error.fix
