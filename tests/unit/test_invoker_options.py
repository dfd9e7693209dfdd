"""The in-process invoker takes timeouts and retry policies from the service model.

It used to derive them itself from the SDK's effective options (with defaults of its
own); these tests pin that the service model gives the very same values, defaults
included, so moving the resolution changed no behaviour.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import sdk as restate
from runtime.invoker.inprocess import InProcessInvoker, abort_limit_s
from runtime.invoker.services import registry_from_sdk
from runtime.registry import OnMaxAttempts, RetryPolicy, Timeouts
from runtime.settings import Settings
from sdk import Context
from sdk.engine import HandlerDefinition

opt = restate.Service(
    "Opt",
    inactivity_timeout=timedelta(seconds=3),
    abort_timeout=timedelta(seconds=4),
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=250), max_attempts=5, on_max_attempts="kill"
    ),
)


@opt.handler()
async def inherits(ctx: Context) -> None:
    return None


@opt.handler(
    inactivity_timeout=timedelta(0),
    invocation_retry_policy=restate.InvocationRetryPolicy(
        max_interval=timedelta(seconds=2), exponentiation_factor=3.0
    ),
)
async def replays(ctx: Context) -> None:
    return None


@opt.handler(abort_timeout=timedelta(milliseconds=1500))
async def aborts_sooner(ctx: Context) -> None:
    return None


bare = restate.Service("Bare")


@bare.handler()
async def plain(ctx: Context) -> None:
    return None


SERVICES = [opt, bare]


def _invoker(**settings: object) -> InProcessInvoker:
    return InProcessInvoker(SERVICES, registry_from_sdk(SERVICES), Settings(**settings))  # type: ignore[arg-type]


def test_the_defaults_are_restate_1_6s() -> None:
    invoker = _invoker()
    policy = invoker.registry.retry_policy("Bare", "plain")
    assert policy.initial_interval_s == 0.5
    assert policy.exponentiation_factor == 2.0
    assert policy.max_interval_s == 60.0
    assert policy.max_attempts == 70  # then pause
    assert policy.on_max_attempts is OnMaxAttempts.PAUSE
    assert [policy.delay_s(n) for n in range(1, 10)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0
    ]  # fmt: skip
    timeouts = invoker.timeouts("Bare", "plain")
    assert timeouts == Timeouts(inactivity_s=10.0, abort_s=None)  # the grace period: 10 s
    assert not timeouts.always_replay
    assert abort_limit_s(timeouts) is None


def _before(h: HandlerDefinition, always_replay_setting: bool) -> tuple[object, ...]:
    """What the invoker derived from the SDK's options before the service model did it."""
    eff = h.effective
    grace = (
        0.0
        if always_replay_setting
        else 10.0
        if eff.inactivity_timeout is None
        else max(eff.inactivity_timeout.total_seconds(), 0.0)
    )
    limit = None if eff.abort_timeout is None else grace + eff.abort_timeout.total_seconds()
    p = eff.invocation_retry_policy
    policy = (
        (0.5, 2.0, 60.0, 70, "pause")
        if p is None
        else (
            p.initial_interval.total_seconds() if p.initial_interval else 0.5,
            p.exponentiation_factor or 2.0,
            p.max_interval.total_seconds() if p.max_interval else 60.0,
            p.max_attempts if p.max_attempts is not None else 70,
            p.on_max_attempts or "pause",
        )
    )
    return always_replay_setting or eff.always_replay, grace, limit, policy


def _now(invoker: InProcessInvoker, h: HandlerDefinition) -> tuple[object, ...]:
    t = invoker.timeouts(h.service_name, h.name)
    p: RetryPolicy = invoker.registry.retry_policy(h.service_name, h.name)
    policy = (
        p.initial_interval_s,
        p.exponentiation_factor,
        p.max_interval_s,
        p.max_attempts,
        p.on_max_attempts,
    )
    return t.always_replay, t.inactivity_s, abort_limit_s(t), policy


@pytest.mark.parametrize("always_replay", [False, True])
def test_declared_options_resolve_as_the_sdk_options_did(always_replay: bool) -> None:
    invoker = _invoker(always_replay=always_replay)
    handlers = [h for svc in SERVICES for h in svc.handlers.values()]
    assert len(handlers) == 4
    for h in handlers:
        assert _now(invoker, h) == _before(h, always_replay), h
    # Spot checks of what the table above compares.
    if not always_replay:
        assert invoker.timeouts("Opt", "inherits") == Timeouts(3.0, 4.0)
        assert invoker.timeouts("Opt", "replays").always_replay
        assert abort_limit_s(invoker.timeouts("Opt", "aborts_sooner")) == 4.5
        assert invoker.registry.retry_policy("Opt", "replays").max_attempts == 70  # the default
