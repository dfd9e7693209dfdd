"""OpenAPI 3.1 documents of a service's ingress endpoints (``GET /services/{name}/openapi``).

Modelled on Restate's per-service OpenAPI: one ``POST`` operation per public
handler for the call (``/{Service}/{handler}`` or ``/{Object}/{key}/{handler}``)
and one for the one-way send (the same path plus ``/send``), request and
response schemas taken from the handler's JSON schemas under
``components/schemas`` (``{handler}Request`` / ``{handler}Response``), and the
shared parameters, responses and error schema Restate's document carries.
"""

from __future__ import annotations

import copy
from typing import Any

from runtime.registry import HandlerInfo, ServiceInfo, ServiceType

_KEY_PARAM = "key"
_IDEMPOTENCY_KEY_PARAM = "idempotencyKeyHeader"
_DELAY_PARAM = "delay"
_GENERIC_ERROR = "GenericError"
_SEND_RESPONSE = "Send"
_ERROR_SCHEMA = "RestateError"
_CALL_TAG = "Request Response"
_SEND_TAG = "Send"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _rebase_refs(schema: Any, prefix: str) -> Any:
    """Point a schema's local ``$ref``s (``#/$defs/X``) at its place under ``prefix``."""
    if isinstance(schema, list):
        return [_rebase_refs(v, prefix) for v in schema]
    if isinstance(schema, dict):
        out = {k: _rebase_refs(v, prefix) for k, v in schema.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            out["$ref"] = prefix + ref[1:]
        return out
    return schema


def _component_schema(schema: object, name: str) -> Any:
    # ``true`` is a valid JSON schema, but tools handle ``{}`` better.
    body = {} if schema is True else copy.deepcopy(schema)
    return _rebase_refs(body, f"#/components/schemas/{name}")


def _request_body(
    handler: HandlerInfo, operation_id: str, schemas: dict[str, Any]
) -> dict[str, Any]:
    media: dict[str, Any] = {}
    if handler.input_json_schema is not None:
        name = f"{operation_id}Request"
        schemas[name] = _component_schema(handler.input_json_schema, name)
        media["schema"] = _ref("schemas", name)
    return {"required": handler.input_required, "content": {handler.accept: media}}


def _response(handler: HandlerInfo, operation_id: str, schemas: dict[str, Any]) -> dict[str, Any]:
    media: dict[str, Any] = {}
    if handler.output_json_schema is not None:
        name = f"{operation_id}Response"
        schemas[name] = _component_schema(handler.output_json_schema, name)
        media["schema"] = _ref("schemas", name)
    return {"description": "Handler output", "content": {handler.content_type: media}}


def _restate_components() -> dict[str, Any]:
    return {
        "parameters": {
            _KEY_PARAM: {
                "name": "key",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "Key of the virtual object or workflow (URL-encoded).",
            },
            _IDEMPOTENCY_KEY_PARAM: {
                "name": "idempotency-key",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "Idempotency key: retries with the same key run the handler once.",
            },
            _DELAY_PARAM: {
                "name": "delay",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "example": "10s",
                "description": "Delay before the invocation runs (ISO-8601 or friendly, e.g. 10s).",
            },
        },
        "responses": {
            _GENERIC_ERROR: {
                "description": "Error response",
                "content": {
                    "application/json": {
                        "schema": _ref("schemas", _ERROR_SCHEMA),
                        "example": {
                            "code": 500,
                            "message": "Internal server error",
                            "source": "invocation",
                        },
                    }
                },
            },
            _SEND_RESPONSE: {
                "description": "Send response",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "title": "RestateSendResponse",
                            "properties": {
                                "invocationId": {"type": "string"},
                                "status": {
                                    "type": "string",
                                    "enum": ["Accepted", "PreviouslyAccepted"],
                                },
                                "executionTime": {
                                    "type": "string",
                                    "format": "date-time",
                                    "description": "When a delayed invocation will run.",
                                },
                            },
                            "required": ["invocationId", "status"],
                            "additionalProperties": False,
                        },
                        "example": {
                            "invocationId": "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz",
                            "status": "Accepted",
                        },
                    }
                },
            },
        },
        "schemas": {
            _ERROR_SCHEMA: {
                "type": "object",
                "title": "RestateError",
                "description": "An ingress error or the terminal failure of an invocation.",
                "properties": {
                    "code": {"type": "number", "title": "error code"},
                    "message": {"type": "string", "title": "Error message"},
                    "source": {
                        "type": "string",
                        "title": "Error source",
                        "enum": ["ingress", "invocation"],
                    },
                    "stacktrace": {"type": "string", "title": "Stacktrace of the error"},
                    "metadata": {
                        "type": "object",
                        "title": "Additional metadata map",
                        "additionalProperties": {"type": "string"},
                    },
                },
                "required": ["message"],
                "additionalProperties": False,
            }
        },
    }


def service_openapi(
    service: ServiceInfo, *, revision: int = 1, ingress_url: str | None = None
) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of one service's ingress endpoints.

    Private handlers (``public=False``) are left out, as Restate does. For a
    private service the document has no paths.

    Args:
        service: The service from the registry.
        revision: Reported as ``info.version``.
        ingress_url: Base URL of the ingress, listed under ``servers`` when given.

    Returns:
        The OpenAPI document as a JSON-ready dict.

    Example:
        >>> from runtime.registry import HandlerInfo, ServiceInfo, ServiceType
        >>> doc = service_openapi(ServiceInfo("Greeter", ServiceType.SERVICE,
        ...     {"greet": HandlerInfo("greet", None)}))
        >>> sorted(doc["paths"])
        ['/Greeter/greet', '/Greeter/greet/send']
    """
    components = _restate_components()
    handler_schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    keyed = service.ty.keyed
    prefix = f"/{service.name}/{{key}}" if keyed else f"/{service.name}"
    handlers = list(service.handlers.values()) if service.public else []
    for handler in handlers:
        if not handler.public:
            continue
        op = handler.name
        params: list[dict[str, str]] = []
        if keyed:
            params.append(_ref("parameters", _KEY_PARAM))
        # Workflow calls are idempotent by their key already (Restate omits the header too).
        if service.ty is not ServiceType.WORKFLOW:
            params.append(_ref("parameters", _IDEMPOTENCY_KEY_PARAM))
        body = _request_body(handler, op, handler_schemas)
        call: dict[str, Any] = {
            "summary": op,
            "operationId": op,
            "description": handler.documentation
            or f"Call {service.name} handler {op} and wait for the response",
            "tags": [_CALL_TAG],
            "parameters": params,
            "requestBody": body,
            "responses": {
                "200": _response(handler, op, handler_schemas),
                "default": _ref("responses", _GENERIC_ERROR),
            },
        }
        send: dict[str, Any] = {
            "summary": op,
            "operationId": f"{op}Send",
            "description": handler.documentation
            or f"Send a request to {service.name} handler {op} without waiting",
            "tags": [_SEND_TAG],
            "parameters": [*params, _ref("parameters", _DELAY_PARAM)],
            "requestBody": body,
            "responses": {
                "202": _ref("responses", _SEND_RESPONSE),
                "default": _ref("responses", _GENERIC_ERROR),
            },
        }
        paths[f"{prefix}/{op}"] = {"post": call}
        paths[f"{prefix}/{op}/send"] = {"post": send}

    # Handler schemas first, Restate's shared ones last (as Restate orders them).
    components["schemas"] = {**handler_schemas, **components["schemas"]}
    info: dict[str, Any] = {"title": service.name, "version": str(revision)}
    if service.documentation:
        info["description"] = service.documentation
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": info}
    if ingress_url:
        doc["servers"] = [{"url": ingress_url, "description": "rt ingress"}]
    doc["paths"] = paths
    doc["tags"] = [
        {"name": _CALL_TAG, "description": "Call a handler and wait for its response"},
        {"name": _SEND_TAG, "description": "Send to a handler without waiting"},
    ]
    doc["components"] = components
    return doc
