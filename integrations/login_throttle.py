"""Admin login attempts, throttled per username and per client address.

Django's admin login checks as many passwords as anybody sends. Here, after
LOGIN_THROTTLE_FAILURES failed attempts for one username, or
LOGIN_THROTTLE_FAILURES_PER_ADDRESS from one client address, within
LOGIN_THROTTLE_WINDOW_SECONDS, every further attempt is refused *without checking the
password* (so even the right one does not get through while the lock lasts), with a
message that says so and when to try again. A successful login clears its username's
count; an address's count only expires (one address guessing many usernames is the
attack it stops).

Counts live in the cache named by LOGIN_THROTTLE_CACHE: Redis when REDIS_URL is set,
so every web process shares them; otherwise each process counts on its own.

Wired in config/urls.py (`admin.site.login_form`); allauth's own login is closed
(integrations/facebook/oauth.py), so the admin's form is the only password door.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from integrations.audit import client_ip

THROTTLED_MESSAGE = (
    "Too many failed login attempts for this account or from this address. "
    "Logins are refused for about %(minutes)d more minute(s), even with the right password; "
    "try again later or ask a superuser to reset the password."
)


@dataclass(frozen=True)
class Limit:
    scope: str  # "user" or "address": part of the cache key
    value: str
    max_failures: int


def _cache() -> BaseCache:
    return caches[getattr(settings, "LOGIN_THROTTLE_CACHE", "default")]


def _window() -> int:
    return int(getattr(settings, "LOGIN_THROTTLE_WINDOW_SECONDS", 900))


def _key(limit: Limit, part: str) -> str:
    # Hashed: usernames and addresses may hold characters a cache key must not.
    digest = hashlib.sha256(f"{limit.scope}:{limit.value}".encode()).hexdigest()[:32]
    return f"login-throttle:{part}:{digest}"


def _limits(*, username: str, address: str | None) -> list[Limit]:
    limits = []
    name = username.strip().casefold()
    if name:
        limits.append(Limit("user", name, int(getattr(settings, "LOGIN_THROTTLE_FAILURES", 5))))
    if address:
        limits.append(Limit("address", address, int(getattr(settings, "LOGIN_THROTTLE_FAILURES_PER_ADDRESS", 20))))
    return limits


def login_throttle_wait(*, username: str, address: str | None) -> float:
    """Seconds until a login for this username from this address may be tried again (0: now)."""
    cache, window, now = _cache(), _window(), time.time()
    wait = 0.0
    for limit in _limits(username=username, address=address):
        failures = cache.get(_key(limit, "failures"), 0)
        if failures >= limit.max_failures:
            started = cache.get(_key(limit, "since"), now)
            wait = max(wait, started + window - now, 1.0)
    return wait


def login_failure_record(*, username: str, address: str | None) -> None:
    cache, window = _cache(), _window()
    for limit in _limits(username=username, address=address):
        failures = _key(limit, "failures")
        cache.add(_key(limit, "since"), time.time(), window)
        # add + incr: concurrent failures are all counted (a get-then-set would lose some).
        cache.add(failures, 0, window)
        try:
            cache.incr(failures)
        except ValueError:  # expired between add and incr
            cache.set(failures, 1, window)


def login_success_record(*, username: str) -> None:
    for limit in _limits(username=username, address=None):
        _cache().delete_many([_key(limit, "failures"), _key(limit, "since")])


def login_throttle_reset(*, username: str = "", address: str | None = None) -> None:
    """Lift a lock by hand (a superuser in a shell, or tests)."""
    for limit in _limits(username=username, address=address):
        _cache().delete_many([_key(limit, "failures"), _key(limit, "since")])


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, refusing attempts while the username or address is locked."""

    error_messages = {**AdminAuthenticationForm.error_messages, "throttled": THROTTLED_MESSAGE}

    def clean(self):
        username = str(self.cleaned_data.get("username") or "")
        address = client_ip(self.request) if isinstance(self.request, HttpRequest) else None
        wait = login_throttle_wait(username=username, address=address)
        if wait > 0:
            raise ValidationError(
                self.error_messages["throttled"], code="throttled", params={"minutes": math.ceil(wait / 60)}
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failure_record(username=username, address=address)
            raise
        if self.get_user() is not None:
            login_success_record(username=username)
        return cleaned
