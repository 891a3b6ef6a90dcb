"""Fault injection: server errors, throttling, latency and held-back answers.

The switch that applies to a call: the ad account's own enabled switch, else the
enabled global switch (no ad account), else the SANDBOX_FAULT_* environment variables.
The dice are deterministic: draw n of a switch is a function of (seed, switch, n), and
saving a switch restarts its sequence, so a test that sets a switch and a seed sees the
same faults on every run (as long as it sends its calls in the same order).
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass

from integrations.sandbox import conf
from integrations.sandbox import graph_errors as refuse
from integrations.sandbox.models import SandboxAdAccount, SandboxFaultSwitch


@dataclass(frozen=True)
class Faults:
    key: str  # counts this switch's draws; saving the switch starts a new count
    scope: str = "global"  # what the draws depend on, with the seed and the count
    server_error_share: float = 0.0
    throttle_share: float = 0.0
    throttle_code: int = 80003
    throttle_regain_minutes: int = 0
    latency_ms: int = 0
    timeout_share: float = 0.0
    timeout_seconds: float = 90.0
    seed: int = 0

    @property
    def is_quiet(self) -> bool:
        return not (self.server_error_share or self.throttle_share or self.latency_ms or self.timeout_share)


NO_FAULTS = Faults(key="none", scope="none")

_counters: dict[str, int] = {}
_counter_lock = threading.Lock()


def reset_dice() -> None:
    with _counter_lock:
        _counters.clear()


def _draw(faults: Faults) -> float:
    with _counter_lock:
        number = _counters.get(faults.key, 0)
        _counters[faults.key] = number + 1
    return random.Random(f"{faults.seed}:{faults.scope}:{number}").random()


def _from_switch(switch: SandboxFaultSwitch) -> Faults:
    return Faults(
        key=f"switch-{switch.pk}-{switch.updated_at.timestamp() if switch.updated_at else 0}",
        scope=f"act_{switch.ad_account.account_id}" if switch.ad_account_id else "global",
        server_error_share=switch.server_error_share,
        throttle_share=switch.throttle_share,
        throttle_code=switch.throttle_code,
        throttle_regain_minutes=switch.throttle_regain_minutes,
        latency_ms=switch.latency_ms,
        timeout_share=switch.timeout_share,
        timeout_seconds=switch.timeout_seconds,
        seed=switch.seed,
    )


def faults_for(ad_account: SandboxAdAccount | None) -> Faults:
    if ad_account is not None:
        own = (
            SandboxFaultSwitch.objects.filter(ad_account=ad_account, enabled=True).select_related("ad_account").first()
        )
        if own is not None:
            return _from_switch(own)
    shared = SandboxFaultSwitch.objects.filter(ad_account__isnull=True, enabled=True).order_by("-updated_at").first()
    if shared is not None:
        return _from_switch(shared)
    from_env = conf.env_fault_switch()
    if from_env is not None:
        return Faults(key="environment", scope="environment", **from_env)
    return NO_FAULTS


@dataclass(frozen=True)
class Verdict:
    """What the dice decided for one call: hold the answer back this many seconds."""

    hold_answer_seconds: float = 0.0


def roll(faults: Faults, *, scope_id: str, usage_type: str | None = None) -> Verdict:
    """Sleep the latency, then raise a server error or throttle, or tell the caller to hold the answer."""
    if faults.is_quiet:
        return Verdict()
    if faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    draw = _draw(faults)
    if draw < faults.server_error_share:
        raise refuse.server_error()
    draw -= faults.server_error_share
    if draw < faults.throttle_share:
        raise refuse.throttled(faults.throttle_code, throttle_headers(faults, scope_id, usage_type))
    draw -= faults.throttle_share
    if draw < faults.timeout_share:
        return Verdict(hold_answer_seconds=faults.timeout_seconds)
    return Verdict()


def throttle_headers(faults: Faults, scope_id: str, usage_type: str | None = None) -> dict[str, str]:
    """Usage headers at 100% with Meta's wait estimate (minutes) for the throttled scope.

    `usage_type`: the bucket of the endpoint called (insights calls: ads_insights);
    otherwise the bucket the throttle code names.
    """
    digits = scope_id.removeprefix("act_") or "0"
    minutes = faults.throttle_regain_minutes
    buc_type = usage_type or ("custom_audience" if faults.throttle_code == 80003 else "ads_management")
    buc = {
        digits: [
            {
                "type": buc_type,
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 40,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    headers = {"X-Business-Use-Case-Usage": json.dumps(buc)}
    if faults.throttle_code == 613:
        headers["X-Ad-Account-Usage"] = json.dumps({"acc_id_util_pct": 100, "reset_time_duration": minutes * 60})
    if faults.throttle_code == 4:
        headers["X-App-Usage"] = json.dumps({"call_count": 100, "total_cputime": 30, "total_time": 40})
    return headers
