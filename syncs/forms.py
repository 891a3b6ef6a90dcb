"""Forms of the sync pages (validation only; the services do the work)."""

from __future__ import annotations

from django import forms

from cohorts.models import Cohort
from integrations.models import FacebookConnection
from syncs.models import SyncJob
from syncs.services import SyncSetupError, cron_expression_validate


class SyncCreateForm(forms.Form):
    AUDIENCE_NEW = "new"
    AUDIENCE_EXISTING = "existing"

    cohort = forms.ModelChoiceField(queryset=Cohort.objects.none())
    connection = forms.ModelChoiceField(
        queryset=FacebookConnection.objects.none(), label="Facebook ad account",
        help_text="The connection (ad account) whose custom audience this cohort feeds.",
    )
    cadence = forms.ChoiceField(choices=SyncJob.Cadence.choices, initial=SyncJob.Cadence.DAILY)
    cron_expression = forms.CharField(
        required=False, help_text="Only for the cron cadence, e.g. '0 6 * * *' (06:00 UTC daily)."
    )
    mode = forms.ChoiceField(choices=SyncJob.Mode.choices, initial=SyncJob.Mode.CHANGES)
    audience = forms.ChoiceField(
        choices=[(AUDIENCE_NEW, "A new audience named after the cohort"), (AUDIENCE_EXISTING, "An existing audience")],
        initial=AUDIENCE_NEW,
        widget=forms.RadioSelect,
    )
    audience_name = forms.CharField(required=False, max_length=200, help_text="Defaults to the cohort's name.")
    existing_audience_id = forms.CharField(required=False, max_length=64, label="Existing audience id")

    def __init__(self, *args, project_ids: list[int] | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cohorts = Cohort.objects.filter(archived=False).select_related("project")
        connections = (
            FacebookConnection.objects.exclude(status=FacebookConnection.Status.DISCONNECTED)
            .exclude(ad_account_id="")
            .select_related("project")
        )
        if project_ids is not None:
            cohorts = cohorts.filter(project_id__in=project_ids)
            connections = connections.filter(project_id__in=project_ids)
        self.fields["cohort"].queryset = cohorts
        self.fields["connection"].queryset = connections

    def clean(self):
        cleaned = super().clean()
        cohort, connection = cleaned.get("cohort"), cleaned.get("connection")
        if cohort and connection and cohort.project_id != connection.project_id:
            self.add_error("connection", "Choose an ad account connected to the cohort's project.")
        if cleaned.get("cadence") == SyncJob.Cadence.CRON:
            try:
                cleaned["cron_expression"] = cron_expression_validate(cleaned.get("cron_expression") or "")
            except SyncSetupError as error:
                self.add_error("cron_expression", f"{error.message} {error.fix}")
        else:
            cleaned["cron_expression"] = ""
        if cleaned.get("audience") == self.AUDIENCE_EXISTING and not cleaned.get("existing_audience_id"):
            self.add_error("existing_audience_id", "Give the id of the audience to keep in step with the cohort.")
        return cleaned


class SyncDeleteForm(forms.Form):
    delete_audience = forms.BooleanField(
        required=False,
        label="Also delete the custom audience at Facebook",
        help_text="Ad sets using it will stop delivering to it. Leave unticked to keep the audience as it is.",
    )
