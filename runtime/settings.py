"""One validated settings object for every rt process.

Sources, lowest to highest precedence: defaults, a TOML file (``RT_CONFIG`` or
``--config``), ``RT_*`` environment variables, CLI flags (passed as init
kwargs). Kafka and Redis security options are passed through untouched so any
SASL/TLS setup librdkafka or redis-py supports works without rt knowing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from sdk.protocol import IdentitySigner

DEFAULT_STATE_DIR = Path(".rt")
DEFAULT_MAX_PAYLOAD_BYTES = 10 << 20
"""10 MiB, the ingress's body limit before the limit became a setting."""
RECORD_HEADROOM_BYTES = 1 << 20
"""What an rt.log record may hold besides its one payload: ids, target, headers, framing."""


class Settings(BaseSettings):
    """rt configuration (env prefix ``RT_``, nested keys with ``__``)."""

    model_config = SettingsConfigDict(
        env_prefix="RT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka_bootstrap: str | None = None
    """Bootstrap servers of an existing Kafka; ``None`` lets ``rt dev`` start a local broker."""
    kafka_properties: dict[str, str] = Field(default_factory=dict)
    """Extra librdkafka properties (``security.protocol``, ``sasl.*``, ``ssl.*`` ...)."""
    redis_url: str | None = None
    """URL of an existing Redis (``redis://``, ``rediss://`` for TLS, password in the URL)."""
    redis_password: str | None = None
    """Redis AUTH password when not given in the URL."""
    redis_ssl_ca_certs: str | None = None
    """CA bundle for ``rediss://`` connections."""

    partitions: int = Field(default=8, ge=1, le=4096)
    """Partitions of rt.log; fixed at creation, bounds parallelism."""
    topic_prefix: str = "rt"
    """Prefix of every rt topic, so several rt clusters can share one Kafka."""
    replication_factor: int = Field(default=1, ge=1)
    kafka_cluster_name: str = "default"
    """The name of rt's Kafka in subscription sources (``kafka://<name>/<topic>``): rt
    consumes only from its own Kafka, so a source naming another cluster is refused."""

    ingress_host: str = "127.0.0.1"
    ingress_port: int = Field(default=8080, ge=0, le=65535)
    ingress_processes: int = Field(default=0, ge=0, le=64)
    """HTTP ingress processes ``rt dev`` runs besides the node (sharing the ingress port);
    0 serves the ingress in the node's own process."""
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=9070, ge=0, le=65535)

    ingress_tokens_sha256: list[str] = Field(default_factory=list)
    """Hex SHA-256 digests of the bearer tokens that open the ingress (two while one is
    rotated). Empty: the ingress is open, which rt refuses on a non-loopback
    ``ingress_host`` unless ``allow_unauthenticated``."""
    admin_tokens_sha256: list[str] = Field(default_factory=list)
    """Hex SHA-256 digests of the bearer tokens that open the admin API (as above)."""
    tls_certfile: Path | None = None
    """PEM certificate (chain) the ingress and the admin API serve HTTPS with; set together
    with ``tls_keyfile``. Unset: plain HTTP."""
    tls_keyfile: Path | None = None
    """PEM private key of ``tls_certfile``."""
    allow_unauthenticated: bool = False
    """Serve the ingress or admin API without tokens on a non-loopback address (when
    something in front of rt authenticates)."""
    request_identity_private_key_pem_file: Path | None = None
    """PKCS#8 PEM Ed25519 private key rt signs its requests to SDK endpoints with
    (discovery and every invocation; Restate's request identity, scheme v1), for
    endpoints configured with the matching ``publickeyv1_...`` identity key. Unset:
    requests are not signed. ``rt deployments keygen`` makes a key."""

    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    """Longest a SIGTERM/SIGINT may take to drain a node: it stops taking requests,
    answers waiting callers 503 (their invocations go on), leaves rt.log's consumer group
    and exits 0. Still draining after this, it exits 1 at once; a second signal, too."""
    max_payload_bytes: int = Field(default=DEFAULT_MAX_PAYLOAD_BYTES, ge=64 << 10, le=64 << 20)
    """Largest payload rt carries: a request body, a handler's input or output, a state
    value, a ``ctx.run`` result, call arguments. A larger request body is answered 413
    before anything is written; a larger value made by a handler ends its invocation with
    a terminal error naming this limit. rt's topics (``max.message.bytes``, raised at
    start-up on existing topics) and its log producers take :attr:`log_record_limit`. At
    most 64 MiB: a record must stay within what one Kafka fetch response may hold."""

    state_dir: Path = DEFAULT_STATE_DIR
    """Where ``rt dev`` keeps Kafka log dirs, Redis AOF, logs and dev.json."""
    kafka_version: str = "4.3.1"
    """Apache Kafka version ``rt dev`` runs when it starts its own broker."""
    redis_appendfsync: str = "everysec"
    """Local Redis AOF policy: ``everysec`` (default) or ``always`` (strict)."""
    log_level: str = "INFO"
    """Level of rt's own log lines (DEBUG, INFO, WARNING, ERROR); child processes inherit it."""
    log_json: bool = False
    """Log one JSON object per line (ts, level, logger, pid, message) instead of plain text."""
    always_replay: bool = False
    """Suspend and replay at every await, for every service (as ``inactivity_timeout=0``):
    a testing mode that proves handlers are deterministic (``RT_ALWAYS_REPLAY=1``)."""
    speculative_handoff: bool = True
    """Start the next queued exclusive call of a key when the running one has returned and
    appended its end, instead of after that end is applied; adopted if it ends cleanly,
    restarted otherwise (ADR 0013)."""

    batched_execution: bool = False
    """Run the invocations of subscriptions batched (ADR 0020): a partition owner runs a
    consumed batch's invocations inline, each key's in order on the state the one before
    left, and commits what they did as one record in one Kafka transaction. Handlers that
    block go on as normal attempts. Off by default while the other paths are not done."""
    batch_max_invocations: int = Field(default=1000, ge=1, le=100_000)
    """Most invocations in one batch record (bounds a record and the calls of a key run on
    states not applied yet); a consumed batch may give several records."""

    default_journal_retention_s: float = Field(default=24 * 3600.0, ge=0)
    """Seconds a completed invocation (status, output, journal) stays in Redis when neither
    its service nor its handler sets ``journal_retention``. It costs about 1 KB of Redis
    memory per invocation (docs/operations.md), so lower it for high-volume services. Any
    journal retention below a minute keeps the status (not more) for that minute: a caller
    whose answer got lost reads it there. Idempotent requests and workflows keep theirs."""

    log_trim_after_s: float | None = Field(default=None, ge=5)
    """Delete rt.log records once Redis applied them this many seconds ago (Kafka
    DeleteRecords), so the log's disk stays bounded. Unset (default): the log is kept
    whole, and a lost Redis can be rebuilt from it. Set, a Redis restored from a backup
    must be younger than this; an older one is refused, never silently skipped over
    (docs/operations.md, ADR 0014). At least 5 s: Redis fsyncs its AOF every second."""

    timer_memory_cap: int = Field(default=10_000, ge=4)
    """Timers a partition owner holds in memory at most; the rest wait in Redis."""
    timer_horizon_ms: int = Field(default=30_000, ge=2)
    """How far ahead the timer wheel loads timers into memory when the cap allows."""

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_ok(cls, v: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not v or not set(v) <= allowed:
            raise ValueError("topic_prefix must be non-empty and use only [a-zA-Z0-9._-]")
        return v

    @field_validator("ingress_tokens_sha256", "admin_tokens_sha256")
    @classmethod
    def _digests_ok(cls, v: list[str]) -> list[str]:
        out = [d.strip().lower() for d in v]
        for d in out:
            if len(d) != 64 or not set(d) <= set("0123456789abcdef"):
                raise ValueError(
                    "token digests are hex SHA-256 (64 characters), e.g. the output of "
                    '`printf %s "$TOKEN" | sha256sum`, never the token itself'
                )
        return out

    @field_validator("request_identity_private_key_pem_file")
    @classmethod
    def _identity_key_ok(cls, v: Path | None) -> Path | None:
        if v is not None:
            _load_signer(v)
        return v

    def request_signer(self) -> IdentitySigner | None:
        """The signer of requests to SDK endpoints, if a key is configured."""
        path = self.request_identity_private_key_pem_file
        return None if path is None else _load_signer(path)

    @field_validator("redis_appendfsync")
    @classmethod
    def _fsync_ok(cls, v: str) -> str:
        if v not in ("everysec", "always", "no"):
            raise ValueError("redis_appendfsync must be everysec, always or no")
        return v

    @field_validator("log_level")
    @classmethod
    def _level_ok(cls, v: str) -> str:
        from runtime.logs import LEVELS

        if v.upper() not in LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LEVELS)}")
        return v.upper()

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile are set together, or neither")
        return self

    @property
    def http_scheme(self) -> str:
        """``https`` when the ingress and the admin API serve TLS, else ``http``."""
        return "https" if self.tls_certfile is not None else "http"

    @model_validator(mode="after")
    def _trim_needs_fsync(self) -> Settings:
        if self.log_trim_after_s is not None and self.redis_appendfsync == "no":
            raise ValueError(
                "log_trim_after_s needs redis_appendfsync everysec or always: with 'no' a "
                "crash can lose more of Redis than the log still holds"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get("RT_CONFIG")
        if config:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)

    @property
    def log_record_limit(self) -> int:
        """Largest record rt writes to its topics: one payload plus :data:`RECORD_HEADROOM_BYTES`.

        rt's topics are created with this ``max.message.bytes`` and its producers allow it,
        so any payload within :attr:`max_payload_bytes` fits in one record.
        """
        return self.max_payload_bytes + RECORD_HEADROOM_BYTES

    def kafka_config(self, bootstrap: str | None = None) -> dict[str, Any]:
        """librdkafka client config: bootstrap plus passed-through properties."""
        servers = bootstrap or self.kafka_bootstrap
        if not servers:
            raise ValueError("no Kafka bootstrap servers configured")
        return {"bootstrap.servers": servers, **self.kafka_properties}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings, reading ``config_file`` (TOML) when given; ``None`` overrides are dropped."""
    if config_file is not None:
        if not config_file.is_file():
            raise FileNotFoundError(f"config file not found: {config_file}")
        os.environ["RT_CONFIG"] = str(config_file)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _load_signer(path: Path) -> IdentitySigner:
    """The request signer of a key file; ValueError naming the file when it is unusable."""
    from sdk.protocol import IdentitySigner  # the protocol's modules load only when used

    try:
        return IdentitySigner.from_pem(path.read_bytes())
    except OSError as e:
        raise ValueError(f"cannot read the request identity key {path}: {e.strerror}") from None
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{path} is not a PKCS#8 PEM Ed25519 private key ({e}); make one with "
            "`rt deployments keygen`"
        ) from None
