"""Amplitude's failures, mapped once (in the client) into classes a caller can act on."""

from __future__ import annotations

from cohorts.errors import CohortError


class AmplitudeError(CohortError):
    code = "amplitude_error"
    permanent = False
    fix = "Try again later; if it keeps failing, check Amplitude's status page."

    def __init__(self, message: str, *, status_code: int | None = None, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.status_code = status_code


class AmplitudeAuthError(AmplitudeError):
    code = "amplitude_auth"
    permanent = True
    fix = "Check the project's Amplitude API key and secret key (Amplitude: Settings > Projects > your project)."


class AmplitudeNotFound(AmplitudeError):
    code = "amplitude_not_found"
    permanent = True
    fix = "The cohort or export no longer exists in Amplitude: refresh the cohort list from Amplitude."


class AmplitudeRateLimited(AmplitudeError):
    code = "amplitude_rate_limited"
    fix = (
        "Amplitude is limiting requests (5 concurrent, 60 cohort requests per 10 minutes): "
        "the next scheduled run retries."
    )

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AmplitudeUnavailable(AmplitudeError):
    """5xx answers, timeouts and connection failures that outlasted the retries."""

    code = "amplitude_unavailable"


class AmplitudeExportTimeout(AmplitudeUnavailable):
    code = "amplitude_export_timeout"
    fix = "Amplitude did not finish preparing the cohort file in time; the next run tries again."


class AmplitudeExportFailed(AmplitudeError):
    code = "amplitude_export_failed"
    fix = "Amplitude could not prepare the cohort file; try again later, or with fewer mapped properties."


class AmplitudeMalformedResponse(AmplitudeError):
    """Truncated JSON, an HTML page, the wrong content type, a truncated or broken file."""

    code = "amplitude_malformed"
    fix = (
        "Amplitude's answer was incomplete or not what its API returns (a proxy page, a cut connection): "
        "try again; check AMPLITUDE_API_URL if it persists."
    )
