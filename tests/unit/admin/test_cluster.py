"""``GET /cluster``: partitions from the read model, services from the registry, rates."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.admin.app import create_admin_app
from runtime.admin.cluster import RATE_WINDOW_S, RateSampler
from runtime.state.reads import PartitionInfo
from runtime.version import __version__
from tests.unit.admin.fakes import InMemoryAdminBackend, sample_registry


@pytest.fixture
def backend() -> InMemoryAdminBackend:
    b = InMemoryAdminBackend()
    b.partitions = [
        PartitionInfo(0, epoch=2, leader_epoch=2, applied=99, active=3, timers=1, dead_letters=0),
        PartitionInfo(1, epoch=0, leader_epoch=0, applied=-1, active=0, timers=0, dead_letters=2),
    ]
    return b


@pytest.fixture
async def client(backend: InMemoryAdminBackend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(sample_registry(), backend)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        yield c


async def test_overview_of_services_and_partitions(client: httpx.AsyncClient) -> None:
    r = await client.get("/cluster")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == __version__
    assert (body["services"], body["handlers"]) == (4, 7)
    assert (body["in_flight"], body["timers"], body["pending_dead_letters"]) == (3, 1, 2)
    assert body["applied_per_second"] is None and body["rate_window_seconds"] is None
    assert body["partitions"] == [
        {
            "partition": 0,
            "epoch": 2,
            "leader_epoch": 2,
            "applied_offset": 99,
            "in_flight": 3,
            "timers": 1,
            "pending_dead_letters": 0,
            "applied_per_second": None,
        },
        {
            "partition": 1,
            "epoch": 0,
            "leader_epoch": 0,
            "applied_offset": None,
            "in_flight": 0,
            "timers": 0,
            "pending_dead_letters": 2,
            "applied_per_second": None,
        },
    ]
    assert body["sampled_at"].endswith("+00:00")


async def test_a_redis_failure_is_a_json_500(
    client: httpx.AsyncClient, backend: InMemoryAdminBackend
) -> None:
    backend.fail_with = ConnectionError("redis is down")
    r = await client.get("/cluster")
    assert r.status_code == 500
    assert "redis is down" in r.json()["message"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_between_requests() -> None:
    clock = Clock()
    sampler = RateSampler(clock)
    assert sampler.rates([10, 5]) is None  # nothing to compare with
    clock.now += 0.1
    assert sampler.rates([11, 5]) is None  # too close to measure
    clock.now += 1.9
    assert sampler.rates([30, 9]) == (2.0, [10.0, 2.0])
    clock.now += 2.0
    assert sampler.rates([50, 1]) == (4.0, [10.0, None])  # partition 1 went back: no rate


def test_old_samples_leave_the_window() -> None:
    clock = Clock()
    sampler = RateSampler(clock)
    sampler.rates([0])
    clock.now += RATE_WINDOW_S / 2
    sampler.rates([1000])
    clock.now += RATE_WINDOW_S / 2 + 1  # the first sample is out of the window
    span, per = sampler.rates([1000]) or (0.0, [])
    assert span == RATE_WINDOW_S / 2 + 1 and per == [0.0]


def test_a_different_partition_count_restarts_the_measure() -> None:
    clock = Clock()
    sampler = RateSampler(clock)
    sampler.rates([0, 0])
    clock.now += 5
    assert sampler.rates([5, 5, 5]) is None
