"""sdk.testing.Runtime on its own: with no Kafka and Redis set, ``rt dev`` starts (and stops)
its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.devstack.process import accepts_connections
from sdk.testing import HttpError, Runtime, runtime_fixture

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _port(address: str | None) -> int:
    """The port of ``host:port`` or ``redis://host:port/db``."""
    return int(str(address).rsplit(":", 1)[1].split("/")[0])


greeter_rt = runtime_fixture(EXAMPLES / "greeter.py", always_replay=True)


def test_runtime_fixture_serves_the_app(greeter_rt: Runtime) -> None:
    assert greeter_rt.always_replay
    assert greeter_rt.call("Greeter/greet", "world") == "Hello world"
    with pytest.raises(HttpError) as e:
        greeter_rt.call("Greeter/nope", "x")
    assert e.value.status_code == 404


def test_harness_starts_its_own_stack_survives_kill9_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RT_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("RT_REDIS_URL", raising=False)
    import examples.counter as counter_module  # a module works as well as a path

    rt = Runtime(counter_module, partitions=2, startup_timeout=180)
    assert rt.kafka_bootstrap is None and rt.redis_url is None
    with rt:
        # No Kafka/Redis configured: rt dev started its own and said where (dev.json).
        kafka_port, redis_port = _port(rt.kafka_bootstrap), _port(rt.redis_url)
        assert accepts_connections(kafka_port) and accepts_connections(redis_port)
        assert rt.call("Counter/a/add", 5) == 5
        rt.kill9()
        assert not accepts_connections(kafka_port), "the node's own Kafka outlived it"
        assert not accepts_connections(redis_port), "the node's own Redis outlived it"
        rt.restart()
        assert rt.call("Counter/a/add", 2) == 7
        inv = rt.send("Counter/b/add", 1)
        assert rt.wait_completed(inv)["completion_result"] == "success"
        with pytest.raises(HttpError) as e:
            rt.describe("inv_nope")
        assert e.value.status_code == 400
    assert not accepts_connections(_port(rt.kafka_bootstrap)), "its Kafka was not stopped"
    assert not accepts_connections(_port(rt.redis_url)), "its Redis was not stopped"


def test_harness_rejects_a_missing_app() -> None:
    with pytest.raises(FileNotFoundError, match="app file not found"):
        Runtime(EXAMPLES / "nope.py")
