"""Amplitude's own paths (https://amplitude.com/docs/apis/analytics/behavioral-cohorts), relative to
the sandbox's mount point, plus the "S3" links its large files redirect to."""

from django.urls import path

from integrations.sandbox.amplitude import views

urlpatterns = [
    path("api/3/cohorts", views.cohorts_list, name="amplitude_sandbox_cohorts"),
    path("api/5/cohorts/request/<str:cohort_id>", views.cohort_request, name="amplitude_sandbox_request"),
    path(
        "api/5/cohorts/request-status/<str:request_id>",
        views.cohort_request_status,
        name="amplitude_sandbox_request_status",
    ),
    path("api/5/cohorts/request/<str:request_id>/file", views.cohort_request_file, name="amplitude_sandbox_file"),
    path("amplitude-s3/cohort-exports/<str:file_name>", views.s3_object, name="amplitude_sandbox_s3_object"),
]
