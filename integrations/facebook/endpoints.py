"""Graph API paths used by the client, each with the documentation page beside it.

Paths are relative to `<FACEBOOK_GRAPH_URL>/<version>/`. Placeholders are filled with
`str.format`; ad account ids always take the `act_<digits>` form (see
`ad_account_path_id`).
"""

from __future__ import annotations

import re

GRAPH_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v25.0"

# https://developers.facebook.com/docs/graph-api/reference/user/
ME = "me"
# https://developers.facebook.com/docs/graph-api/reference/user/permissions/
ME_PERMISSIONS = "me/permissions"
# https://developers.facebook.com/docs/graph-api/reference/debug_token/
DEBUG_TOKEN = "debug_token"  # noqa: S105 - a path, not a secret
# https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived/
# (also the code exchange of the manual login flow and `client_credentials` app tokens:
# https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow/)
OAUTH_ACCESS_TOKEN = "oauth/access_token"  # noqa: S105 - a path, not a secret
# https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow/
# Served by www.facebook.com, not graph.facebook.com.
OAUTH_DIALOG = "dialog/oauth"
# https://developers.facebook.com/docs/graph-api/reference/user/adaccounts/
ME_AD_ACCOUNTS = "me/adaccounts"
# https://developers.facebook.com/docs/marketing-api/reference/ad-account/
AD_ACCOUNT = "{ad_account_id}"
# https://developers.facebook.com/docs/marketing-api/reference/ad-account/customaudiences/
AD_ACCOUNT_CUSTOM_AUDIENCES = "{ad_account_id}/customaudiences"
# https://developers.facebook.com/docs/marketing-api/reference/custom-audience/
CUSTOM_AUDIENCE = "{audience_id}"
# https://developers.facebook.com/docs/marketing-api/reference/custom-audience/users/
CUSTOM_AUDIENCE_USERS = "{audience_id}/users"
# https://developers.facebook.com/docs/marketing-api/reference/custom-audience/usersreplace/
CUSTOM_AUDIENCE_USERS_REPLACE = "{audience_id}/usersreplace"
# https://developers.facebook.com/docs/marketing-api/reference/custom-audience-session/
CUSTOM_AUDIENCE_SESSIONS = "{audience_id}/sessions"
# https://developers.facebook.com/docs/marketing-api/insights/
AD_ACCOUNT_INSIGHTS = "{ad_account_id}/insights"
# https://developers.facebook.com/docs/marketing-api/reference/ad-account/campaigns/
AD_ACCOUNT_CAMPAIGNS = "{ad_account_id}/campaigns"
# https://developers.facebook.com/docs/marketing-api/reference/ad-account/adsets/
# (an ad set's `targeting` holds its `custom_audiences`:
# https://developers.facebook.com/docs/marketing-api/audiences/reference/custom-audience-targeting/)
AD_ACCOUNT_AD_SETS = "{ad_account_id}/adsets"
# https://developers.facebook.com/docs/marketing-api/reference/ad-report-run/
REPORT_RUN = "{report_run_id}"
# https://developers.facebook.com/docs/marketing-api/insights/best-practices/#asynchronous
REPORT_RUN_INSIGHTS = "{report_run_id}/insights"

# Where a person accepts the Custom Audience Terms for one ad account (Braze docs,
# braze-inc/braze-docs#8684; see shared docs section 4).
CUSTOM_AUDIENCE_TOS_URL = "https://business.facebook.com/ads/manage/customaudiences/tos/?act={account_digits}"

_AD_ACCOUNT_ID = re.compile(r"^(?:act_)?(\d+)$")


def ad_account_digits(ad_account_id: str | int) -> str:
    """`act_123`, `123` or 123 -> `123`; anything else is a programming error."""
    match = _AD_ACCOUNT_ID.match(str(ad_account_id).strip())
    if not match:
        raise ValueError(f"Not an ad account id: {ad_account_id!r}")
    return match.group(1)


def ad_account_path_id(ad_account_id: str | int) -> str:
    """The `act_<digits>` form Graph paths need (an existing prefix is not doubled)."""
    return f"act_{ad_account_digits(ad_account_id)}"


def terms_acceptance_url(ad_account_id: str | int) -> str:
    return CUSTOM_AUDIENCE_TOS_URL.format(account_digits=ad_account_digits(ad_account_id))
