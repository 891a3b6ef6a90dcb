"""Shared fixtures: users with roles in projects, and an admin client per role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from integrations.models import Project, ProjectMembership


@pytest.fixture
def project(db) -> Project:
    return Project.objects.create(name="Acme", slug="acme", default_country="US")


@pytest.fixture
def other_project(db) -> Project:
    return Project.objects.create(name="Globex", slug="globex", default_country="GB")


@pytest.fixture
def make_member(db):
    """make_member(project, role) -> a staff user with that role in that project."""

    def make(project: Project, role: str, username: str | None = None):
        user = get_user_model().objects.create_user(
            username=username or f"{role}-{project.slug}", password="pw", is_staff=True
        )
        ProjectMembership.objects.create(user=user, project=project, role=role)
        return user

    return make


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="pw")
