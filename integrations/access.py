"""Who may do what on which project.

Access is by project membership, not by Django's per-model permissions: a staff user
sees the projects they are a member of, and their role there decides what they may
change. Superusers see and change everything.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from integrations.models import ProjectMembership

Role = ProjectMembership.Role
ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}

UserLike = AbstractBaseUser | AnonymousUser


def project_roles(user: UserLike) -> dict[int, str]:
    """project id -> role, for an active staff user; memoised on the user object.

    The admin asks several permission questions per page, so this is one query per
    request (request.user is loaded afresh for every request).
    """
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return {}
    cached = getattr(user, "_project_roles_cache", None)
    if cached is None:
        cached = dict(ProjectMembership.objects.filter(user=user).values_list("project_id", "role"))
        user._project_roles_cache = cached
    return cached


def forget_project_roles(user: UserLike) -> None:
    """Drop the memoised roles (after a membership of this user changed)."""
    if hasattr(user, "_project_roles_cache"):
        del user._project_roles_cache


def is_superuser(user: UserLike) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def has_project_role(user: UserLike, project_id: int | None, minimum: str) -> bool:
    if is_superuser(user):
        return True
    if project_id is None:
        return False
    role = project_roles(user).get(project_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def project_ids_with_role(user: UserLike, minimum: str) -> list[int] | None:
    """The projects where `user` has at least `minimum`; None means every project."""
    if is_superuser(user):
        return None
    rank = ROLE_RANK[minimum]
    return [pid for pid, role in project_roles(user).items() if ROLE_RANK[role] >= rank]


def has_any_project_role(user: UserLike, minimum: str) -> bool:
    ids = project_ids_with_role(user, minimum)
    return ids is None or bool(ids)
