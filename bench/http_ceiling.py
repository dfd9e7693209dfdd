#!/usr/bin/env python3
"""CPU cost of the HTTP layer alone: uvicorn + FastAPI catch-all route (as rt's ingress) vs.
uvicorn + a bare ASGI callable, both answering a fixed JSON body after reading the request body.

usage: python bench/http_ceiling.py fastapi|asgi [port]   (then drive it with loadgen.py)
bench/http_ceiling.sh runs both under the same load and prints CPU µs per request.
"""

import asyncio
import sys

import uvicorn

kind = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 18090

if kind == "fastapi":
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    async def dispatch(request: Request) -> Response:
        body = await request.body()
        _ = request.headers.get("content-type"), body
        return Response(b'"Hello anchor"', media_type="application/json")

    app.add_api_route(
        "/{path:path}",
        dispatch,
        methods=["GET", "POST"],
        include_in_schema=False,
        response_class=Response,
    )
else:

    async def app(scope, receive, send):  # type: ignore[no-redef]
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"14")],
            }
        )
        await send({"type": "http.response.body", "body": b'"Hello anchor"'})


import uvloop  # noqa: E402

uvloop.install()
asyncio.run(
    uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    ).serve()
)
