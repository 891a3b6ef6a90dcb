from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from integrations.admin_home import admin_home_view
from integrations.login_throttle import ThrottledAdminAuthenticationForm

# Failed admin logins are throttled per username and per address (integrations/login_throttle.py).
admin.site.login_form = ThrottledAdminAuthenticationForm
admin.site.site_header = "Cohort sync: Amplitude cohorts to Facebook audiences"
admin.site.site_title = "Cohort sync"
admin.site.index_title = "Projects, cohorts and syncs"

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    # The admin's index with each project's health above the app list; every other admin
    # page (and the name "admin:index", which resolves to this same address) is the site's own.
    path("admin/", admin.site.admin_view(admin_home_view), name="admin_home"),
    path("admin/", admin.site.urls),
]

# The local Facebook and Amplitude emulations, mounted only when the sandbox is on
# (never in production unless asked for): /sandbox/v25.0/me, /sandbox/api/3/cohorts ...
if settings.SANDBOX:
    urlpatterns.append(path("sandbox/", include("integrations.sandbox.urls")))
