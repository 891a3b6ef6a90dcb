"""The Facebook sandbox's own knobs: a Django setting when defined, else the environment.

| Variable                          | Default    | Meaning                                                     |
|-----------------------------------|------------|-------------------------------------------------------------|
| SANDBOX_MAX_BODY_BYTES            | 8388608    | body cap; larger bodies: "reduce the amount of data" (1)    |
| SANDBOX_POPULATION_SIZE           | 1000000    | people 0..N-1 of `population.py` rows can match             |
| SANDBOX_REQUIRE_APPSECRET_PROOF   | false      | refuse calls without `appsecret_proof` ("Require App Secret") |
| SANDBOX_FAULT_SERVER_ERROR_SHARE  | 0          | share of Graph calls answered HTTP 500, code 2 (transient)  |
| SANDBOX_FAULT_THROTTLE_SHARE      | 0          | share of Graph calls throttled                              |
| SANDBOX_FAULT_THROTTLE_CODE       | 80003      | 80003, 613, 17 or 4                                         |
| SANDBOX_FAULT_THROTTLE_MINUTES    | 0          | `estimated_time_to_regain_access` sent with a throttle      |
| SANDBOX_FAULT_LATENCY_MS          | 0          | added to every Graph call                                   |
| SANDBOX_FAULT_TIMEOUT_SHARE       | 0          | share of calls whose answer is held back (processed first)  |
| SANDBOX_FAULT_TIMEOUT_SECONDS     | 90         | how long such an answer is held back                        |
| SANDBOX_FAULT_SEED                | 0          | seed of the fault dice (same seed, same sequence)           |

The SANDBOX_FAULT_* variables describe the global fault switch used when the sandbox's
admin defines none; a switch saved in the admin (global or per ad account) wins.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings

from config.env import env_bool, env_float, env_int

T = TypeVar("T")

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # 10,000 rows of 6 hashed keys is about 4.1 MB
DEFAULT_POPULATION_SIZE = 1_000_000


def _setting(name: str, reader: Callable[[str, T], T], default: T) -> T:
    if hasattr(settings, name):
        return getattr(settings, name)
    return reader(name, default)


def max_body_bytes() -> int:
    return _setting("SANDBOX_MAX_BODY_BYTES", env_int, DEFAULT_MAX_BODY_BYTES)


def population_size() -> int:
    return _setting("SANDBOX_POPULATION_SIZE", env_int, DEFAULT_POPULATION_SIZE)


def require_appsecret_proof() -> bool:
    return _setting("SANDBOX_REQUIRE_APPSECRET_PROOF", env_bool, False)


def app_id() -> str:
    return str(getattr(settings, "FACEBOOK_APP_ID", "") or "")


def app_secret() -> str:
    return str(getattr(settings, "FACEBOOK_APP_SECRET", "") or "")


def graph_version() -> str:
    return str(getattr(settings, "FACEBOOK_GRAPH_VERSION", "v25.0"))


def env_fault_switch() -> dict[str, Any] | None:
    """The global fault switch described by SANDBOX_FAULT_* variables, if any is set."""
    if not any(name.startswith("SANDBOX_FAULT_") for name in os.environ):
        return None
    return {
        "server_error_share": env_float("SANDBOX_FAULT_SERVER_ERROR_SHARE", 0.0),
        "throttle_share": env_float("SANDBOX_FAULT_THROTTLE_SHARE", 0.0),
        "throttle_code": env_int("SANDBOX_FAULT_THROTTLE_CODE", 80003),
        "throttle_regain_minutes": env_int("SANDBOX_FAULT_THROTTLE_MINUTES", 0),
        "latency_ms": env_int("SANDBOX_FAULT_LATENCY_MS", 0),
        "timeout_share": env_float("SANDBOX_FAULT_TIMEOUT_SHARE", 0.0),
        "timeout_seconds": env_float("SANDBOX_FAULT_TIMEOUT_SECONDS", 90.0),
        "seed": env_int("SANDBOX_FAULT_SEED", 0),
    }
