"""The throttle gate of insights calls: Meta's `ads_insights` bucket, apart from the sync jobs'.

Meta counts insights calls in their own business-use-case bucket (`ads_insights`), not in
the `custom_audience` one the sync jobs use, so a throttled report must not park the
syncs of the ad account. This gate keeps its waits in `AdAccountThrottle` under
`act_<digits>:ads_insights` (which the sync engine never reads), and still honours a
throttle the syncs recorded for the whole ad account: a user- or app-level limit
(codes 17, 4) stops every call made with the token.
"""

from __future__ import annotations

from syncs.throttle import SharedThrottleGate

INSIGHTS_SUFFIX = ":ads_insights"


class InsightsThrottleGate(SharedThrottleGate):
    def wait(self, scope_id: str) -> None:
        super().wait(scope_id)  # a throttle the sync jobs met on this ad account
        super().wait(scope_id + INSIGHTS_SUFFIX)

    def record(self, scope_id: str, retry_after_seconds: float) -> None:
        super().record(scope_id + INSIGHTS_SUFFIX, retry_after_seconds)

    def load(self, scope_id: str) -> None:
        super().load(scope_id)
        super().load(scope_id + INSIGHTS_SUFFIX)
