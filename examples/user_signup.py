"""A workflow that waits for a durable promise: user sign-up with e-mail verification.

``run`` executes exactly once per user id. It creates the user, "e-mails" a
secret link (printed here), then waits on the ``email-link`` promise until the
user clicks; ``click`` is a shared handler that resolves the promise while
``run`` is waiting. Everything survives restarts of rt.

Run: ``rt dev examples/user_signup.py``, then

    curl -s localhost:8080/UserSignup/alice/run/send -H 'content-type: application/json' \\
         -d '{"name": "Alice", "email": "alice@example.com"}'
    curl -s localhost:8080/UserSignup/alice/get_stage          # "Waiting for e-mail click"
    # paste the secret printed by rt dev:
    curl -s localhost:8080/UserSignup/alice/click -H 'content-type: application/json' -d '"SECRET"'
    curl -s localhost:8080/restate/workflow/UserSignup/alice/attach      # true
"""

from pydantic import BaseModel

import sdk as restate
from sdk import TerminalError, WorkflowContext, WorkflowSharedContext


class User(BaseModel):
    name: str
    email: str


user_signup = restate.Workflow("UserSignup")


def create_user(user_id: str, user: User) -> bool:
    """Stands in for a database insert (journaled: runs once even if rt restarts after it)."""
    return True


def send_email(user_id: str, email: str, secret: str) -> None:
    """Stands in for an e-mail provider: prints the verification link."""
    print(
        f"[user_signup] e-mail to {email}: verify with "
        f"curl localhost:8080/UserSignup/{user_id}/click -H 'content-type: application/json' "
        f"-d '\"{secret}\"'",
        flush=True,
    )


@user_signup.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    created = await ctx.run_typed("create user", create_user, restate.RunOptions(), user_id, user)
    if not created:
        return False
    ctx.set("stage", "Waiting for e-mail click")
    secret = str(ctx.uuid())  # deterministic: the same on every replay
    await ctx.run_typed(
        "send e-mail", send_email, restate.RunOptions(), user_id, user.email, secret
    )
    clicked = await ctx.promise("email-link", type_hint=str).value()
    if clicked != secret:
        ctx.set("stage", "Verification failed")
        raise TerminalError("wrong secret from the e-mail link", status_code=400)
    ctx.set("stage", "User verified")
    return True


@user_signup.handler()
async def click(ctx: WorkflowSharedContext, secret: str) -> None:
    """The link in the e-mail: resolves the promise ``run`` waits on (409 if clicked twice)."""
    await ctx.promise("email-link", type_hint=str).resolve(secret)


@user_signup.handler()
async def get_stage(ctx: WorkflowSharedContext) -> str | None:
    """Shared handlers run concurrently with ``run`` and read its committed state."""
    return await ctx.get("stage", type_hint=str)


app = restate.app([user_signup])
