"""The local demo: an admin user and a project, created once and reused afterwards."""

from __future__ import annotations

import os
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from integrations.models import Project, ProjectMembership

DEMO_USERNAME = "admin"
DEMO_PROJECT_SLUG = "demo"


@dataclass
class DemoLogin:
    username: str
    password: str | None  # None: the user existed and may have changed it
    created: bool


@transaction.atomic
def demo_admin_ensure(*, password: str | None = None) -> DemoLogin:
    User = get_user_model()
    password = password or os.environ.get("DEMO_ADMIN_PASSWORD") or "admin"
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        User.objects.create_superuser(DEMO_USERNAME, email="", password=password)
        return DemoLogin(DEMO_USERNAME, password, created=True)
    return DemoLogin(DEMO_USERNAME, password if user.check_password(password) else None, created=False)


@transaction.atomic
def demo_project_ensure() -> Project:
    project, _ = Project.objects.get_or_create(
        slug=DEMO_PROJECT_SLUG,
        defaults={
            "name": "Demo project (sandbox)",
            "amplitude_project_id": "sandbox",
            "amplitude_api_key": "sandbox-api-key",
            "amplitude_secret_key": "sandbox-secret-key",
            "default_country": "US",
        },
    )
    admin = get_user_model().objects.get(username=DEMO_USERNAME)
    ProjectMembership.objects.get_or_create(user=admin, project=project, defaults={"role": "admin"})
    return project
