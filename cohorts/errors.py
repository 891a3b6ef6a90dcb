"""Typed errors of the cohort sources: each knows whether retrying can help and what to do.

Callers (the admin, the sync engine, tasks) catch `CohortError`, record `str(error)` and
`error.fix` on their own model, and retry later only when `permanent` is False.
"""

from __future__ import annotations


class CohortError(Exception):
    permanent: bool = True
    fix: str = ""
    code: str = "cohort_error"

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        if fix is not None:
            self.fix = fix


class CohortRefreshBusy(CohortError):
    permanent = False
    code = "refresh_busy"
    fix = "Another refresh of this cohort is running; try again when it has finished."


class CohortMappingInvalid(CohortError):
    code = "mapping_invalid"
    fix = "Map at least one identifying key (email, phone, mobile advertiser id or external id) in Key mappings."


class CohortFileInvalid(CohortError):
    """An uploaded CSV file that cannot be read as a whole (not a bad row: those are counted)."""

    code = "file_invalid"
    fix = "Save the file as CSV (UTF-8) with a header row naming the mapped columns, and upload it again."


class CohortNeedsUpload(CohortError):
    code = "needs_upload"
    fix = "Upload the cohort's CSV file again: its members were encoded with an older key mapping."


class CohortNotFromAmplitude(CohortError):
    code = "not_amplitude"
    fix = "This cohort comes from a CSV file: upload a new file to change its members."
