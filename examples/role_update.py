"""Role update: a saga of journaled steps, undone in reverse when one is refused.

Giving a user a new role means several calls to an identity directory (simulated
here): set the role, then set each permission. If the directory refuses one
permission (a ``TerminalError``: retrying would not help), the steps already done
are compensated in reverse order — each permission gets its previous setting
back, then the previous role — and the update fails. Every step and every
compensation is a ``ctx.run``: if rt crashes mid-way, the retry resumes where the
journal ends instead of starting over, so compensations also run to the end.

The object's key is the user, so two updates of one user never interleave.

Run: ``rt dev examples/role_update.py``, then

    curl -s localhost:8080/RoleUpdate/alice/apply -H 'content-type: application/json' \\
        -d '{"role": "editor", "permissions": [{"key": "docs", "setting": "write"}]}'
    curl -s localhost:8080/RoleUpdate/alice/apply -H 'content-type: application/json' \\
        -d '{"role": "admin", "permissions": [{"key": "billing", "setting": "write"},
             {"key": "nukes", "setting": "launch"}]}'          # 400, rolled back
    curl -s localhost:8080/RoleUpdate/alice/current        # role "editor", docs "write"
"""

from __future__ import annotations

from pydantic import BaseModel

import sdk as restate
from sdk import ObjectContext, ObjectSharedContext, TerminalError


class Permission(BaseModel):
    key: str
    setting: str


class UpdateRequest(BaseModel):
    role: str
    permissions: list[Permission]


class UserRecord(BaseModel):
    role: str
    permissions: dict[str, str]


# The identity directory rt talks to (in memory here, so it forgets on restart).
KNOWN_PERMISSIONS = {"docs", "billing", "reports"}
_roles: dict[str, str] = {}
_permissions: dict[str, dict[str, str]] = {}


def get_role(user: str) -> str:
    return _roles.get(user, "guest")


def apply_role(user: str, role: str) -> None:
    print(f"[directory] {user}: role {get_role(user)} -> {role}", flush=True)
    _roles[user] = role


def apply_permission(user: str, permission: Permission) -> Permission:
    """Set one permission; returns its previous setting (the compensation's input)."""
    if permission.key not in KNOWN_PERMISSIONS:
        raise TerminalError(f"unknown permission {permission.key!r}", status_code=400)
    settings = _permissions.setdefault(user, {})
    previous = Permission(key=permission.key, setting=settings.get(permission.key, "none"))
    print(
        f"[directory] {user}: {permission.key} {previous.setting} -> {permission.setting}",
        flush=True,
    )
    if permission.setting == "none":
        settings.pop(permission.key, None)
    else:
        settings[permission.key] = permission.setting
    return previous


def read_user(user: str) -> UserRecord:
    return UserRecord(role=get_role(user), permissions=dict(_permissions.get(user, {})))


role_update = restate.VirtualObject("RoleUpdate")


@role_update.handler()
async def apply(ctx: ObjectContext, update: UpdateRequest) -> UserRecord:
    user = ctx.key()
    previous_role = await ctx.run_typed("get role", get_role, user=user)
    await ctx.run_typed("apply role", apply_role, user=user, role=update.role)
    undo: list[Permission] = []
    try:
        for permission in update.permissions:
            previous = await ctx.run_typed(
                f"apply {permission.key}", apply_permission, user=user, permission=permission
            )
            undo.append(previous)
    except TerminalError:
        for previous in reversed(undo):
            await ctx.run_typed(
                f"undo {previous.key}", apply_permission, user=user, permission=previous
            )
        await ctx.run_typed("restore role", apply_role, user=user, role=previous_role)
        raise
    return await ctx.run_typed("read", read_user, user=user)


@role_update.handler(kind="shared")
async def current(ctx: ObjectSharedContext) -> UserRecord:
    """What the directory holds for the user (a read is a journaled step too)."""
    return await ctx.run_typed("read", read_user, user=ctx.key())


app = restate.app([role_update])
