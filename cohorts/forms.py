"""Forms of the cohort admin pages: CSV upload and the cohort-list refresh."""

from __future__ import annotations

from django import forms

from cohorts.models import Cohort
from integrations.models import Project

MAX_UPLOAD_BYTES = 500 * 1024 * 1024


class ProjectChoiceForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none())

    def __init__(self, *args, project_ids: list[int] | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        projects = Project.objects.order_by("name")
        if project_ids is not None:
            projects = projects.filter(pk__in=project_ids)
        self.fields["project"].queryset = projects


class CsvUploadForm(ProjectChoiceForm):
    cohort = forms.ModelChoiceField(
        queryset=Cohort.objects.none(),
        required=False,
        label="Replace the members of",
        help_text="An earlier CSV cohort of the project; leave empty to create a new cohort.",
    )
    name = forms.CharField(max_length=300, required=False, help_text="The new cohort's name.")
    file = forms.FileField(
        help_text=(
            "CSV (UTF-8, or gzip) with a header row. Name the columns after the project's key mapping: "
            "user_id, device_id and the user properties' names. Values are hashed exactly as written; "
            "nothing in the file is ever evaluated."
        )
    )

    def __init__(self, *args, project_ids: list[int] | None, **kwargs) -> None:
        super().__init__(*args, project_ids=project_ids, **kwargs)
        cohorts = Cohort.objects.filter(source=Cohort.Source.CSV).select_related("project").order_by("name")
        if project_ids is not None:
            cohorts = cohorts.filter(project_id__in=project_ids)
        self.fields["cohort"].queryset = cohorts

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
        return upload

    def clean(self):
        data = super().clean()
        cohort, project = data.get("cohort"), data.get("project")
        if cohort is not None and project is not None and cohort.project_id != project.pk:
            self.add_error("cohort", "This cohort belongs to another project.")
        if cohort is None and not (data.get("name") or "").strip():
            self.add_error("name", "Name the new cohort (or choose one to replace).")
        return data
