"""The sandbox's URLconf: Meta's and Amplitude's own paths, relative to the mount point.

`run_sandbox` serves it at the root (so FACEBOOK_GRAPH_URL=http://127.0.0.1:N), the main
server under /sandbox/ when settings.SANDBOX is on (FACEBOOK_GRAPH_URL=.../sandbox).
Graph paths carry the version first, as on graph.facebook.com: any vNN.N is routed, and
versions older than v21.0 are answered with Meta's 2635 error.
"""

from django.urls import include, path, re_path

from integrations.sandbox.views import graph, oauth

VERSION = r"^(?P<version>v\d+\.\d+)/"
ACCOUNT = r"act_(?P<account_id>\d+)"
OBJECT = r"(?P<object_id>\d+)"

urlpatterns = [
    # --- Amplitude sandbox (integrations.sandbox.amplitude, another helper's) ---------------
    # Its one include line goes here, above the Graph routes:
    path("", include("integrations.sandbox.amplitude.urls")),
    # ------------------------------------------------------------------------------------------
    # The login dialog lives on www.facebook.com; the sandbox serves it beside the Graph API.
    re_path(VERSION + r"dialog/oauth/?$", oauth.oauth_dialog, name="sandbox_oauth_dialog"),
    re_path(VERSION + r"oauth/access_token/?$", oauth.oauth_access_token, name="sandbox_oauth_access_token"),
    re_path(VERSION + r"debug_token/?$", oauth.debug_token, name="sandbox_debug_token"),
    re_path(VERSION + r"me/?$", graph.me, name="sandbox_me"),
    re_path(VERSION + r"me/permissions/?$", graph.me_permissions, name="sandbox_me_permissions"),
    re_path(VERSION + r"me/adaccounts/?$", graph.me_adaccounts, name="sandbox_me_adaccounts"),
    re_path(VERSION + ACCOUNT + r"/?$", graph.ad_account, name="sandbox_ad_account"),
    re_path(
        VERSION + ACCOUNT + r"/customaudiences/?$",
        graph.ad_account_custom_audiences,
        name="sandbox_ad_account_customaudiences",
    ),
    re_path(VERSION + ACCOUNT + r"/insights/?$", graph.ad_account_insights, name="sandbox_ad_account_insights"),
    re_path(VERSION + ACCOUNT + r"/campaigns/?$", graph.ad_account_campaigns, name="sandbox_ad_account_campaigns"),
    re_path(VERSION + ACCOUNT + r"/adsets/?$", graph.ad_account_adsets, name="sandbox_ad_account_adsets"),
    re_path(VERSION + ACCOUNT + r"/ads/?$", graph.ad_account_ads, name="sandbox_ad_account_ads"),
    re_path(VERSION + OBJECT + r"/?$", graph.graph_object, name="sandbox_object"),
    re_path(VERSION + OBJECT + r"/users/?$", graph.audience_users, name="sandbox_audience_users"),
    re_path(VERSION + OBJECT + r"/usersreplace/?$", graph.audience_users_replace, name="sandbox_audience_usersreplace"),
    re_path(VERSION + OBJECT + r"/sessions/?$", graph.audience_sessions, name="sandbox_audience_sessions"),
    re_path(VERSION + OBJECT + r"/insights/?$", graph.report_run_insights, name="sandbox_report_run_insights"),
    re_path(VERSION + r"(?P<rest>.*)$", graph.unknown_path, name="sandbox_unknown_path"),
]
