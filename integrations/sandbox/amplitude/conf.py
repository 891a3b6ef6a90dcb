"""The Amplitude sandbox's switches from the environment, on top of each project's admin switches.

| Variable                              | Default | Meaning                                              |
|---------------------------------------|---------|------------------------------------------------------|
| AMPLITUDE_SANDBOX_REFUSE_AUTH         | false   | answer every request with 401                        |
| AMPLITUDE_SANDBOX_THROTTLE_SHARE      | 0       | share of requests answered with 429 (Retry-After: 1) |
| AMPLITUDE_SANDBOX_STATUS_POLLS        | (admin) | "JOB INPROGRESS" answers before "JOB COMPLETED"      |
| AMPLITUDE_SANDBOX_INLINE_MAX_BYTES    | (admin) | larger files are answered with a 302 to "S3"         |
| AMPLITUDE_SANDBOX_CACHE_DIR           | $TMP/amplitude-sandbox | where cohort files are written        |

A switch turned on in the admin (or a Django setting of the same name) applies as well:
a request is refused when either says so.
"""

from __future__ import annotations

import os

from django.conf import settings

from config.env import env_bool, env_float, env_int


def _defined(name: str) -> bool:
    return hasattr(settings, name) or os.environ.get(name, "").strip() != ""


def refuse_auth() -> bool:
    if hasattr(settings, "AMPLITUDE_SANDBOX_REFUSE_AUTH"):
        return bool(settings.AMPLITUDE_SANDBOX_REFUSE_AUTH)
    return env_bool("AMPLITUDE_SANDBOX_REFUSE_AUTH", False)


def throttle_share() -> float:
    if hasattr(settings, "AMPLITUDE_SANDBOX_THROTTLE_SHARE"):
        return float(settings.AMPLITUDE_SANDBOX_THROTTLE_SHARE)
    return env_float("AMPLITUDE_SANDBOX_THROTTLE_SHARE", 0.0)


def status_polls(admin_value: int) -> int:
    if _defined("AMPLITUDE_SANDBOX_STATUS_POLLS"):
        value = getattr(settings, "AMPLITUDE_SANDBOX_STATUS_POLLS", None)
        admin_value = int(value) if value is not None else env_int("AMPLITUDE_SANDBOX_STATUS_POLLS", admin_value)
    return max(1, admin_value)  # Amplitude always answers INPROGRESS at least once


def inline_max_bytes(admin_value: int) -> int:
    if _defined("AMPLITUDE_SANDBOX_INLINE_MAX_BYTES"):
        value = getattr(settings, "AMPLITUDE_SANDBOX_INLINE_MAX_BYTES", None)
        return int(value) if value is not None else env_int("AMPLITUDE_SANDBOX_INLINE_MAX_BYTES", admin_value)
    return admin_value
