"""The report's filters and the backfill form; choices limited to what the person may see or change."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms

from integrations.admetrics import conf
from integrations.admetrics.selectors import GroupBy, ReportFilters, ad_account_choices
from integrations.models import FacebookConnection, Project

DEFAULT_REPORT_DAYS = 28


class ReportFilterForm(forms.Form):
    project = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    ad_account = forms.ChoiceField(required=False, label="Ad account")
    since = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(choices=GroupBy.choices, initial=GroupBy.DAY, label="By")
    currency = forms.RegexField(
        regex=r"^[A-Za-z]{3}$", required=False, max_length=3, help_text="ISO code, e.g. USD; empty: every currency."
    )

    def __init__(self, data=None, *, project_ids: list[int] | None, today: date) -> None:
        yesterday = today - timedelta(days=1)
        defaults = {
            "since": (yesterday - timedelta(days=DEFAULT_REPORT_DAYS - 1)).isoformat(),
            "until": yesterday.isoformat(),
            "group_by": GroupBy.DAY,
        }
        # The page opens on the default filters: a report, not an empty form.
        super().__init__({**defaults, **(data.dict() if data is not None else {})})
        self.project_ids = project_ids
        projects = Project.objects.order_by("name")
        if project_ids is not None:
            projects = projects.filter(pk__in=project_ids)
        self.fields["project"].choices = [("", "Every project")] + [(p.pk, p.name) for p in projects[:500]]
        self.fields["ad_account"].choices = [("", "Every ad account"), *ad_account_choices(project_ids=project_ids)]

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until:
            if since > until:
                self.add_error("until", "The last day must not be before the first.")
            elif (until - since).days > conf.HISTORY_DAYS:
                self.add_error("since", "Choose at most 37 months.")
        data["currency"] = (data.get("currency") or "").upper()
        return data

    def filters(self) -> ReportFilters:
        data = self.cleaned_data
        return ReportFilters(
            project_ids=self.project_ids,
            since=data["since"],
            until=data["until"],
            project_id=data.get("project"),
            ad_account_id=data.get("ad_account") or "",
            currency=data.get("currency") or "",
        )


class ConnectionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: FacebookConnection) -> str:
        return f"{obj.project.name}: {obj.ad_account_name or obj.ad_account_id} ({obj.ad_account_id})"


class BackfillForm(forms.Form):
    connection = ConnectionChoiceField(queryset=FacebookConnection.objects.none(), label="Ad account")
    since = forms.DateField(label="First day", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="Last day", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, project_ids: list[int] | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        connections = (
            FacebookConnection.objects.exclude(status=FacebookConnection.Status.DISCONNECTED)
            .exclude(ad_account_id="")
            .select_related("project")
            .order_by("project__name", "ad_account_name")
        )
        if project_ids is not None:
            connections = connections.filter(project_id__in=project_ids)
        self.fields["connection"].queryset = connections
        only = list(connections[:2])
        if len(only) == 1 and not self.initial.get("connection"):
            self.initial["connection"] = only[0].pk  # nothing to choose

    def clean(self) -> dict:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The last day must not be before the first.")
        return data
