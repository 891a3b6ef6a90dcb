"""The URLconf `run_sandbox` serves: the sandbox at the root, plus the admin for its switches."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("integrations.sandbox.urls")),
]
