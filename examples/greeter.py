"""The smallest rt service. Run: ``rt dev examples/greeter.py``, then

curl -s localhost:8080/Greeter/greet -H 'content-type: application/json' -d '"world"'
"""

import sdk as restate

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    return f"Hello {name}"


app = restate.app([greeter])
