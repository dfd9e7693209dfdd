"""A subscription: source topic, target handler, options — parsed and validated.

Wire shape (Restate's admin API): ``{"id": "sub_…", "source": "kafka://<cluster>/<topic>",
"sink": "service://<Service>/<handler>", "options": {...}}``. The same JSON is the
value of the subscription's record in the compacted ``<prefix>.registry`` topic
(key ``subscription/<id>``); NEVER CHANGE those keys or field names.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException

from connectors.serde import FORMATS, decoder_for

REGISTRY_KEY_PREFIX = "subscription/"
"""Key prefix of subscription records in ``<prefix>.registry`` (never change)."""

SKIP = "skip"

OPTIONS: dict[str, str] = {
    "auto.offset.reset": "where a new subscription starts: earliest | latest (default latest)",
    "format": "value format: json (default) | avro | raw",
    "avro.schema": "inline Avro schema (JSON text) for format=avro",
    "avro.schema.file": "path of an Avro schema file (read by every node) for format=avro",
    "schema.registry.url": "Confluent schema registry URL for format=avro (wire format)",
    "dlq": "dead-letter topic for undecodable records and terminally failed invocations, "
    "or 'skip' (default: skip)",
}
"""rt's own subscription options, with their meaning. Any other option must be a
librdkafka consumer property (passed to the source consumer, as Restate does), except
those rt sets itself (:data:`RT_CONTROLLED`)."""

RT_CONTROLLED = frozenset({
    "bootstrap.servers", "client.id", "group.id", "group.instance.id", "group.protocol",
    "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof",
    "isolation.level", "partition.assignment.strategy", "max.poll.interval.ms",
    "security.protocol", "log_level",
})  # fmt: skip
"""Consumer properties exactly-once intake depends on (or that carry rt's Kafka access)."""
_RT_CONTROLLED_PREFIXES = ("sasl.", "ssl.")


def check_consumer_property(name: str, value: str) -> None:
    """Raise SubscriptionError unless librdkafka's consumer accepts ``name=value``."""
    if name in RT_CONTROLLED or name.startswith(_RT_CONTROLLED_PREFIXES):
        raise SubscriptionError(
            f"option {name!r} is set by rt: exactly-once intake and rt's Kafka access depend on it"
        )
    try:
        Consumer({"group.id": "rt-option-check", name: value}).close()
    except (KafkaException, ValueError, TypeError) as e:
        reason = e.args[0].str() if isinstance(e, KafkaException) else str(e)
        known = ", ".join(sorted(OPTIONS))
        raise SubscriptionError(
            f"subscription option {name!r}={value!r} is neither an rt option ({known}) "
            f"nor accepted by librdkafka's consumer: {reason}"
        ) from None


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TOPIC_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class SubscriptionError(ValueError):
    """A subscription request that cannot be accepted (answered 400/404, nothing created)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def new_subscription_id() -> str:
    """``sub_`` + 26 random base62 characters."""
    return "sub_" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


def valid_topic_name(name: str) -> bool:
    return 0 < len(name) <= 249 and set(name) <= _TOPIC_CHARS and name not in (".", "..")


def parse_source(source: str) -> tuple[str, str]:
    """``kafka://<cluster>/<topic>`` → (cluster, topic)."""
    scheme, sep, rest = source.partition("://")
    if not sep or scheme != "kafka":
        raise SubscriptionError(
            f"bad source {source!r}: expected kafka://<cluster>/<topic> "
            "(e.g. kafka://default/orders)"
        )
    cluster, sep, topic = rest.partition("/")
    if not cluster or not sep or not valid_topic_name(topic):
        raise SubscriptionError(f"bad source {source!r}: expected kafka://<cluster>/<topic>")
    return cluster, topic


def parse_sink(sink: str) -> tuple[str, str]:
    """``service://<Service>/<handler>`` → (service, handler)."""
    scheme, sep, rest = sink.partition("://")
    if not sep or scheme != "service":
        raise SubscriptionError(f"bad sink {sink!r}: expected service://<Service>/<handler>")
    service, sep, handler = rest.partition("/")
    if not service or not sep or not handler or "/" in handler:
        raise SubscriptionError(f"bad sink {sink!r}: expected service://<Service>/<handler>")
    return service, handler


def validate_options(options: dict[str, Any]) -> dict[str, str]:
    """Check the options (names, values, Avro schema) and return them as strings."""
    out: dict[str, str] = {}
    for k, v in options.items():
        if not isinstance(v, str | int | float | bool):
            raise SubscriptionError(f"option {k!r} must be a string")
        out[k] = v if isinstance(v, str) else json.dumps(v)
        if k not in OPTIONS:
            check_consumer_property(k, out[k])
    reset = out.get("auto.offset.reset", "latest")
    if reset not in ("earliest", "latest"):
        raise SubscriptionError(f"auto.offset.reset must be earliest or latest, got {reset!r}")
    fmt = out.get("format", "json")
    if fmt not in FORMATS:
        raise SubscriptionError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    avro_keys = {"avro.schema", "avro.schema.file", "schema.registry.url"} & set(out)
    if fmt != "avro" and avro_keys:
        raise SubscriptionError(f"{', '.join(sorted(avro_keys))} only apply to format=avro")
    if fmt == "avro":
        if not avro_keys:
            raise SubscriptionError(
                "format=avro needs avro.schema, avro.schema.file or schema.registry.url"
            )
        if "schema.registry.url" in out and not out["schema.registry.url"].startswith(
            ("http://", "https://")
        ):
            raise SubscriptionError("schema.registry.url must be an http(s):// URL")
        try:
            decoder_for(
                "avro",
                avro_schema=out.get("avro.schema"),
                avro_schema_file=out.get("avro.schema.file"),
                schema_registry_url=out.get("schema.registry.url"),
            )
        except ValueError as e:
            raise SubscriptionError(str(e)) from None
    dlq = out.get("dlq")
    if dlq is not None and dlq != SKIP and not valid_topic_name(dlq):
        raise SubscriptionError(f"dlq must be a topic name or 'skip', got {dlq!r}")
    return out


@dataclass(frozen=True)
class Subscription:
    """One subscription, as stored in the registry topic and served by the admin API."""

    id: str
    source: str
    sink: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return parse_source(self.source)[1]

    @property
    def service(self) -> str:
        return parse_sink(self.sink)[0]

    @property
    def handler(self) -> str:
        return parse_sink(self.sink)[1]

    @property
    def dlq(self) -> str | None:
        """The dead-letter topic, or None to skip poison records."""
        d = self.options.get("dlq", SKIP)
        return None if d == SKIP else d

    @property
    def offset_reset(self) -> str:
        return self.options.get("auto.offset.reset", "latest")

    @property
    def format(self) -> str:
        return self.options.get("format", "json")

    @property
    def consumer_options(self) -> dict[str, str]:
        """The librdkafka properties given for the source consumer."""
        return {k: v for k, v in self.options.items() if k not in OPTIONS}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "sink": self.sink, "options": self.options}

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Subscription:
        d = json.loads(data)
        return cls(d["id"], d["source"], d["sink"], dict(d.get("options") or {}))

    def registry_key(self) -> bytes:
        return (REGISTRY_KEY_PREFIX + self.id).encode()
