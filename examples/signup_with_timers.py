"""Sign-up that races the user's click against reminders and a 24-hour deadline.

``run`` e-mails a verification secret, then waits for whichever comes first:

- the ``email-verified`` promise, resolved by the shared ``verify_email`` handler
  when the user clicks the link (the signal from outside);
- the reminder timer: a reminder e-mail goes out and a new reminder timer starts;
- the overall deadline, created once before the loop so that reminders do not
  push it back: the sign-up fails.

``restate.select`` picks the first to complete; which one it was is journaled, so a
replay after a crash takes the same branch. The timers are durable: rt keeps them
(not the handler's process), they fire on time across restarts, and the
suspended workflow costs no memory while it waits. Restate's named signals
(``ctx.signal``) are not in rt yet; a workflow's durable promise plays that part.

Run: ``rt dev examples/signup_with_timers.py``, then

    curl -s localhost:8080/SignupWithTimers/alice/run/send -H 'content-type: application/json' \\
        -d '{"name": "Alice", "email": "alice@example.com"}'
    curl -s localhost:8080/SignupWithTimers/alice/status     # {"stage": "waiting", "reminders": 0}
    # paste the secret printed by rt dev:
    curl -s localhost:8080/SignupWithTimers/alice/verify_email \\
        -H 'content-type: application/json' -d '"SECRET"'
    curl -s localhost:8080/restate/workflow/SignupWithTimers/alice/attach     # true

Environment: ``SIGNUP_REMINDER_SECONDS`` (default 14400, 4 hours) and
``SIGNUP_TIMEOUT_SECONDS`` (default 86400, 24 hours).
"""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import BaseModel

import sdk as restate
from sdk import TerminalError, WorkflowContext, WorkflowSharedContext

REMINDER_EVERY = timedelta(seconds=float(os.environ.get("SIGNUP_REMINDER_SECONDS", "14400")))
VERIFY_WITHIN = timedelta(seconds=float(os.environ.get("SIGNUP_TIMEOUT_SECONDS", "86400")))


class User(BaseModel):
    name: str
    email: str


class Status(BaseModel):
    stage: str | None
    reminders: int


def send_verification_email(user_id: str, email: str, secret: str) -> None:
    """Stands in for an e-mail provider."""
    print(
        f"[signup] verification e-mail to {email}: curl localhost:8080/SignupWithTimers/"
        f"{user_id}/verify_email -H 'content-type: application/json' -d '\"{secret}\"'",
        flush=True,
    )


def send_reminder_email(user_id: str, email: str, number: int) -> None:
    print(f"[signup] reminder {number} to {email} ({user_id})", flush=True)


signup = restate.Workflow("SignupWithTimers")


@signup.main()
async def run(ctx: WorkflowContext, user: User) -> bool:
    user_id = ctx.key()
    secret = str(ctx.uuid())
    await ctx.run_typed(
        "verification e-mail",
        send_verification_email,
        user_id=user_id,
        email=user.email,
        secret=secret,
    )
    ctx.set("stage", "waiting")
    clicked = ctx.promise("email-verified", type_hint=str).value()
    deadline = ctx.sleep(VERIFY_WITHIN)
    reminders = 0
    while True:
        match await restate.select(
            clicked=clicked, reminder=ctx.sleep(REMINDER_EVERY), deadline=deadline
        ):
            case ["clicked", answer]:
                if answer != secret:
                    ctx.set("stage", "wrong secret")
                    raise TerminalError("the verification secret does not match", 400)
                ctx.set("stage", "verified")
                return True
            case ["reminder", _]:
                reminders += 1
                ctx.set("reminders", reminders)
                await ctx.run_typed(
                    f"reminder {reminders}",
                    send_reminder_email,
                    user_id=user_id,
                    email=user.email,
                    number=reminders,
                )
            case _:  # the deadline
                ctx.set("stage", "expired")
                raise TerminalError("the e-mail address was not verified in time", 408)


@signup.handler()
async def verify_email(ctx: WorkflowSharedContext, secret: str) -> None:
    """The link in the e-mail (409 once the sign-up was verified)."""
    await ctx.promise("email-verified", type_hint=str).resolve(secret)


@signup.handler()
async def status(ctx: WorkflowSharedContext) -> Status:
    return Status(
        stage=await ctx.get("stage", type_hint=str),
        reminders=await ctx.get("reminders", type_hint=int) or 0,
    )


app = restate.app([signup])
