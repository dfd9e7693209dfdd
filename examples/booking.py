"""A trip booking saga: flight, car, hotel — and on failure, every reservation undone in reverse.

``run`` reserves a flight, a car and a hotel, one journaled step each. Before each
reservation it registers the matching cancellation. When a provider refuses for
good (a ``TerminalError``, here: a sold-out hotel), the registered cancellations
run in reverse order and the booking fails. Compensations are registered *before*
their step because a reservation can succeed at the provider and still fail to
answer; cancelling with the booking id is safe either way.

Durable execution is what makes this dependable: if rt is killed half-way, the
retry replays the reservations already journaled (the providers are not called
again) and carries on — the saga, compensations included, always runs to the end.

Run: ``rt dev examples/booking.py``, then

    curl -s localhost:8080/Booking/trip-1/run -H 'content-type: application/json' \\
        -d '{"customer": "alice", "flight": "LH123", "car": "compact", "hotel": "Grand Hotel"}'
    curl -s localhost:8080/Booking/trip-2/run -H 'content-type: application/json' \\
        -d '{"customer": "bob", "flight": "LH123", "car": "van", "hotel": "Overlook Hotel"}'
    # → 409 "no rooms left at Overlook Hotel"; rt dev prints hotel, car, flight cancelled
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

import sdk as restate
from sdk import TerminalError, WorkflowContext

PROVIDER_LATENCY = 0.5
"""Seconds each simulated reservation takes (airlines are slow)."""
SOLD_OUT = {"Overlook Hotel"}


class Trip(BaseModel):
    customer: str
    flight: str
    car: str
    hotel: str


class Itinerary(BaseModel):
    flight: str
    car: str
    hotel: str


def reserve(kind: str, booking_id: str, what: str) -> str:
    """Stands in for the airline, car rental and hotel APIs; returns a confirmation code."""
    time.sleep(PROVIDER_LATENCY)
    if kind == "hotel" and what in SOLD_OUT:
        raise TerminalError(f"no rooms left at {what}", status_code=409)
    print(f"[booking] {booking_id}: {kind} {what} reserved", flush=True)
    return f"{kind}-{booking_id}"


def cancel(kind: str, booking_id: str) -> None:
    """Cancels the booking's reservation of this kind, if there is one (idempotent)."""
    print(f"[booking] {booking_id}: {kind} cancelled", flush=True)


booking = restate.Workflow("Booking")


@booking.main()
async def run(ctx: WorkflowContext, trip: Trip) -> Itinerary:
    booking_id = ctx.key()
    compensations: list[Callable[[], Awaitable[None]]] = []

    async def step(kind: str, what: str) -> str:
        compensations.append(
            lambda: ctx.run_typed(f"cancel {kind}", cancel, kind=kind, booking_id=booking_id)
        )
        return await ctx.run_typed(
            f"reserve {kind}", reserve, kind=kind, booking_id=booking_id, what=what
        )

    try:
        flight = await step("flight", trip.flight)
        car = await step("car", trip.car)
        hotel = await step("hotel", trip.hotel)
    except TerminalError:
        for compensation in reversed(compensations):
            await compensation()
        raise
    return Itinerary(flight=flight, car=car, hotel=hotel)


app = restate.app([booking])
