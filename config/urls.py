from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]

# The local Facebook and Amplitude emulations, mounted only when the sandbox is on
# (never in production unless asked for): /sandbox/v25.0/me, /sandbox/api/3/cohorts ...
if settings.SANDBOX:
    urlpatterns.append(path("sandbox/", include("integrations.sandbox.urls")))
