"""bench/services.py imports with rt's SDK, or restate-sdk without it, and its handlers run.

The same file is served by ``rt dev`` and, with restate-sdk 1.2.0, registered with the
real Restate by ``bench/restate.sh``, so both systems run identical handlers.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

import sdk
from sdk.engine import App, Done, Failed, Failure, ServiceType, SleepCommand
from tests.unit.sdk.fake_runtime import FakeRuntime, output_json

SERVICES = Path(__file__).resolve().parents[3] / "bench" / "services.py"


def _load(path: Path, name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


anchor = _load(SERVICES, "bench_services")


def test_all_services_registered() -> None:
    assert isinstance(anchor.app, App)
    assert {n: s.service_type for n, s in anchor.app.services.items()} == {
        "Greeter": ServiceType.SERVICE,
        "Counter": ServiceType.VIRTUAL_OBJECT,
        "Steps": ServiceType.WORKFLOW,
        "Sleeper": ServiceType.SERVICE,
    }
    assert sorted(anchor.app.services["Greeter"].handlers) == ["fail", "flaky", "greet"]


def test_rt_sdk_is_used_when_importable() -> None:
    assert anchor.restate is sdk


def test_without_rt_sdk_the_file_imports_restate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``sdk`` cannot be imported (Restate's venv), the file takes ``restate``.

    ``restate`` is rt's SDK under restate-sdk's name here: the file may use only names
    that both SDKs have.
    """
    stand_in = ModuleType("restate")
    stand_in.__dict__.update({n: getattr(sdk, n) for n in sdk.__all__})
    monkeypatch.setitem(sys.modules, "sdk", None)  # ``import sdk`` raises ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "restate", stand_in)
    module = _load(SERVICES, "bench_services_restate")
    assert module.restate is stand_in
    assert sorted(module.app.services) == ["Counter", "Greeter", "Sleeper", "Steps"]


@pytest.mark.parametrize("always_replay", [False, True])
async def test_anchor_handlers_run(always_replay: bool) -> None:
    app = anchor.app
    kw = {"always_replay": always_replay}
    greet = await FakeRuntime(app.handler("Greeter", "greet"), input=b'"Ann"', **kw).run()
    assert output_json(greet) == "Hello Ann"

    fail = await FakeRuntime(app.handler("Greeter", "fail"), input=b'"x"', **kw).run()
    assert isinstance(fail, Done) and fail.failure == Failure(422, "bad input: x")

    rt = FakeRuntime(app.handler("Greeter", "flaky"), input=b'"Bo"', **kw)
    flaky = await rt.run(max_attempts=2)
    assert output_json(flaky) == "Hello Bo after 2 attempts"
    assert isinstance(rt.failures[0], Failed)

    add = FakeRuntime(
        app.handler("Counter", "add"), input=b"3", key="c", state={"count": b"4"}, **kw
    )
    assert output_json(await add.run()) == 7
    get = FakeRuntime(app.handler("Counter", "get"), key="c", state=add.state, **kw)
    assert output_json(await get.run()) == 7

    steps = FakeRuntime(app.handler("Steps", "run"), input=b"10", key="w", **kw)
    assert output_json(await steps.run()) == 16

    sleeper = FakeRuntime(app.handler("Sleeper", "sleep"), input=b"250", **kw)
    assert output_json(await sleeper.run()) == 250
    assert SleepCommand(wake_up_time_ms=1_000_250) in sleeper.journal
