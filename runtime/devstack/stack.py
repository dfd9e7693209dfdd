"""Kafka + Redis for ``rt dev`` and the test fixtures: started locally or taken from settings."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from runtime.devstack.kafka import LocalKafka
from runtime.devstack.redis import LocalRedis


@dataclass
class DevStack:
    """Starts what is not configured; ``stop`` stops only what it started."""

    state_dir: Path
    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    kafka_version: str = "4.3.1"
    redis_appendfsync: str = "everysec"
    kafka: LocalKafka | None = field(default=None, init=False)
    redis: LocalRedis | None = field(default=None, init=False)

    def wipe(self) -> None:
        """Delete local Kafka and Redis data (``rt dev --fresh``)."""
        for sub in ("kafka", "redis"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.redis_url is None:
                self.redis = LocalRedis(
                    self.state_dir / "redis", appendfsync=self.redis_appendfsync
                )
                self.redis.start()
                self.redis_url = self.redis.url
            if self.kafka_bootstrap is None:
                self.kafka = LocalKafka(self.state_dir / "kafka", version=self.kafka_version)
                self.kafka.start()
                self.kafka_bootstrap = self.kafka.bootstrap
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def log_files(self) -> dict[str, Path]:
        files: dict[str, Path] = {}
        if self.kafka is not None:
            files["kafka"] = self.kafka.log_file
        if self.redis is not None:
            files["redis"] = self.redis.log_file
        return files
