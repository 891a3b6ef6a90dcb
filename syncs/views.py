"""The sync job page's extra doors: its progress as JSON and the member lookup.

Mounted by `SyncJobAdmin.get_urls`, which checks the login and the person's role in the
job's project before calling these: they never see a job the person may not see.
"""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from integrations.audit import AuditActions, audit_record
from syncs.models import SyncJob
from syncs.selectors import LOOKUP_KEYS, MemberLookup, audience_member_lookup, job_progress

MEMBER_LOOKUP_ACTION = AuditActions.SYNC_MEMBER_LOOKUP


def job_progress_payload(job: SyncJob) -> dict:
    progress = job_progress(job_id=job.pk)
    return {
        "job": {
            "status": job.status,
            "status_label": job.get_status_display(),
            "status_reason": job.status_reason,
            "status_fix": job.status_fix,
        },
        "progress": progress.as_json() if progress is not None else None,
    }


@never_cache
def job_progress_json(request: HttpRequest, job: SyncJob) -> JsonResponse:
    """What the progress bar polls: the running (or latest) run of the job, one query."""
    return JsonResponse(job_progress_payload(job))


class MemberLookupForm(forms.Form):
    key = forms.ChoiceField(
        label="Find by", choices=[(key, words.capitalize()) for key, words in LOOKUP_KEYS.items()], initial="EMAIL"
    )
    # A password-style box would hide a mistyped address; autocomplete is off so the
    # browser does not remember what support people typed.
    value = forms.CharField(
        label="Email or phone number",
        max_length=320,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "size": 40}),
        help_text="Encoded in memory as Facebook receives it (phone numbers with the project's default country); "
        "neither stored nor logged.",
    )


def _lookup_outcome(answer: MemberLookup) -> str:
    if not answer.usable:
        return "unusable value"
    if answer.current is not None:
        return "in the audience"
    return "removed" if answer.entries else "not found"


@sensitive_variables("raw_value")
def member_lookup_answer(*, request: HttpRequest, job: SyncJob, key: str, raw_value: str) -> MemberLookup:
    answer = audience_member_lookup(job=job, key=key, raw_value=raw_value)
    # Who looked, where and with what outcome: never the value, nor its digest.
    audit_record(
        action=MEMBER_LOOKUP_ACTION,
        request=request,
        project=job.cohort.project,
        target=job,
        changes={"key": key, "outcome": _lookup_outcome(answer)},
    )
    return answer


@sensitive_post_parameters("value")
@never_cache
def member_lookup_page(request: HttpRequest, job: SyncJob, context: dict) -> HttpResponse:
    """GET: the form. POST: the answer, rendered in the response (no redirect, nothing in the URL).

    The answer page always offers an empty box, even after a refused value: what was typed
    is never sent back to the browser.
    """
    answer, errors = None, []
    form = MemberLookupForm()
    if request.method == "POST":
        posted = MemberLookupForm(request.POST)
        if posted.is_valid():
            key = posted.cleaned_data["key"]
            answer = member_lookup_answer(request=request, job=job, key=key, raw_value=posted.cleaned_data["value"])
        else:
            key = request.POST.get("key") if request.POST.get("key") in LOOKUP_KEYS else "EMAIL"
            errors = [f"{posted.fields[name].label}: {error}" for name, field_errors in posted.errors.items()
                      for error in field_errors]
        form = MemberLookupForm(initial={"key": key})
    context = {
        **context,
        "job": job,
        "form": form,
        "answer": answer,
        "lookup_errors": errors,
        "title": f"Find a person in {job.audience_name}",
    }
    return TemplateResponse(request, "admin/syncs/syncjob/member_lookup.html", context)
