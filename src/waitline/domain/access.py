"""Who may do what: roles per location, the actions they are granted, and the policy table between them.

The one table that decides authorization is ``GRANTS`` (action -> roles); web/policy.py maps every route
to one action, and services.access works out a caller's role at a location with ``role_at``.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class Role(enum.StrEnum):
    OWNER = "owner"  # everything, at every location of the organisation
    MANAGER = "manager"  # the settings and the staff of one location
    HOST = "host"  # runs one location's queue


STAFF_ROLES = (Role.MANAGER, Role.HOST)


class Action(enum.StrEnum):
    PUBLIC = "public"  # guests, documentation, health: nobody is asked who they are
    SIGN_IN = "sign-in"  # the sign-in pages and signing out: anyone, to become someone
    RUN_QUEUE = "run-queue"  # the dashboard: call, seat, no-show, cancel, pause; the staff API
    READ_EVENTS = "read-events"  # a location's event log (API)
    EDIT_LOCATION = "edit-location"  # name, country, time zone, hours, limits, pause
    MANAGE_STAFF = "manage-staff"  # invite, change roles, revoke
    MANAGE_TOKENS = "manage-tokens"  # create and revoke API tokens
    ORGANISATION = "organisation"  # the organisation's overview, new locations, the audit trail
    READ_ANALYTICS = "read-analytics"  # a location's analytics pages and CSV exports


GRANTS: dict[Action, frozenset[Role]] = {
    Action.RUN_QUEUE: frozenset({Role.OWNER, Role.MANAGER, Role.HOST}),
    Action.READ_EVENTS: frozenset({Role.OWNER, Role.MANAGER, Role.HOST}),
    Action.EDIT_LOCATION: frozenset({Role.OWNER, Role.MANAGER}),
    Action.MANAGE_STAFF: frozenset({Role.OWNER, Role.MANAGER}),
    Action.MANAGE_TOKENS: frozenset({Role.OWNER, Role.MANAGER}),
    Action.ORGANISATION: frozenset({Role.OWNER}),
    Action.READ_ANALYTICS: frozenset({Role.OWNER, Role.MANAGER}),
}
OPEN_ACTIONS = frozenset({Action.PUBLIC, Action.SIGN_IN})


def permits(role: Role | None, action: Action) -> bool:
    if action in OPEN_ACTIONS:
        return True
    return role is not None and role in GRANTS[action]


class PrincipalKind(enum.StrEnum):
    OWNER = "owner"
    STAFF = "staff"
    API_TOKEN = "api_token"  # noqa: S105 (a kind of caller, not a secret)


@dataclass(frozen=True)
class Principal:
    """A caller whose credentials checked out: an owner of an organisation, a staff login of one location
    (with its role there), or an API token of one location (which runs the queue, as a host does)."""

    kind: PrincipalKind
    id: uuid.UUID
    email: str | None
    organisation_id: uuid.UUID | None
    restaurant_id: uuid.UUID | None
    role: Role


def role_at(
    principal: Principal, *, restaurant_id: uuid.UUID, organisation_id: uuid.UUID | None
) -> Role | None:
    """The principal's role at this location, None when they have none there."""
    if principal.kind is PrincipalKind.OWNER:
        same = organisation_id is not None and principal.organisation_id == organisation_id
        return Role.OWNER if same else None
    return principal.role if principal.restaurant_id == restaurant_id else None
