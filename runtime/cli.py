"""The ``rt`` command: the composition root of the CLI process (``rt dev`` runs
:mod:`runtime.dev` in it; the admin-API commands live in :mod:`runtime.clicmds`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from runtime import tracing
from runtime.clicmds import (
    deployments_app,
    invocations_app,
    services_app,
    state_app,
    subscribe,
    subscriptions_app,
)
from runtime.clicmds.cron import cron_app
from runtime.logs import configure as configure_logging
from runtime.serving import loop_factory
from runtime.settings import Settings, load_settings
from runtime.version import __version__

app = typer.Typer(
    name="rt",
    help="rt: durable execution and stateful event processing on Kafka and Redis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
devstack_app = typer.Typer(help="Local Kafka/Redis helpers.", no_args_is_help=True)
app.add_typer(devstack_app, name="devstack")
app.add_typer(services_app, name="services")
app.add_typer(services_app, name="svc", hidden=True)
app.add_typer(state_app, name="state")
app.add_typer(state_app, name="kv", hidden=True)
app.add_typer(invocations_app, name="invocations")
app.add_typer(invocations_app, name="inv", hidden=True)
app.add_typer(cron_app, name="cron")
app.add_typer(deployments_app, name="deployments")
app.add_typer(deployments_app, name="dp", hidden=True)
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(subscriptions_app, name="subs", hidden=True)
app.command("subscribe")(subscribe)

out = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"rt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """rt command line."""


def _settings(config: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in x['loc'])}: {x['msg']}" for x in e.errors()
        )
        _fail(f"invalid settings: {problems}", 2)
    except FileNotFoundError as e:
        _fail(str(e), 2)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@app.command()
def dev(
    app_files: Annotated[
        list[Path] | None, typer.Argument(help="Python files defining services (or an `app`).")
    ] = None,
    ingress_port: Annotated[int | None, typer.Option(help="Ingress port (default 8080).")] = None,
    admin_port: Annotated[int | None, typer.Option(help="Admin API port (default 9070).")] = None,
    partitions: Annotated[
        int | None, typer.Option(help="Partitions of rt.log (default 8).")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where data and logs live (default .rt).")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Wipe local Kafka/Redis data first.")
    ] = False,
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
    ingress_processes: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="Serve the ingress from N processes of its own (default 0: "
            "in the node's process).",
        ),
    ] = None,
) -> None:
    """Start a complete local rt: Kafka, Redis, processors, ingress, admin."""
    settings = _settings(
        config,
        ingress_port=ingress_port,
        admin_port=admin_port,
        partitions=partitions,
        state_dir=state_dir,
        ingress_processes=ingress_processes,
    )
    _run_node(settings, list(app_files or []), fresh=fresh, title="rt dev")


def _run_node(settings: Settings, app_files: list[Path], *, fresh: bool, title: str) -> None:
    """Run one node (with the app files, if any) until SIGINT/SIGTERM."""
    from runtime.dev import DevRuntime
    from runtime.invoker.loader import AppLoadError

    for f in app_files:
        if not f.is_file():
            _fail(f"app file not found: {f}", 2)
    # Child processes (ingress, intake) read these from the environment.
    os.environ["RT_LOG_LEVEL"] = settings.log_level
    os.environ["RT_LOG_JSON"] = "1" if settings.log_json else "0"
    configure_logging()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    runtime = DevRuntime(settings, app_files, fresh=fresh)
    try:
        try:
            runtime.load_app()
        except AppLoadError as e:
            _fail(str(e), 2)
        try:
            tracing.configure()  # off unless OTEL_* variables ask (docs/observability.md)
        except tracing.TracingConfigError as e:
            _fail(str(e), 2)
        with out.status("starting Kafka and Redis ..."):
            runtime.start_infrastructure()
        info_path = runtime.write_info()

        def ready() -> None:
            info = runtime.info()
            table = Table.grid(padding=(0, 2))
            table.add_row("ingress", info["ingress_url"])
            table.add_row("admin", info["admin_url"])
            table.add_row("kafka", str(info["kafka_bootstrap"]))
            table.add_row("redis", str(info["redis_url"]))
            table.add_row("services", ", ".join(info["services"]) or "(none)")
            table.add_row("data", info["state_dir"])
            for name, path in info["logs"].items():
                table.add_row(f"{name} log", path)
            table.add_row("info", str(info_path))
            out.print(Panel(table, title=f"{title} {__version__}", subtitle="Ctrl-C to stop"))

        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(runtime.serve(on_ready=ready))
    except KeyboardInterrupt:
        pass
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - report start-up failures plainly
        _fail(f"{type(e).__name__}: {e}")
    finally:
        runtime.shutdown()
        tracing.shutdown()  # exports the spans still buffered
        out.print(f"{title} stopped")


@app.command()
def server(
    ingress_port: Annotated[int | None, typer.Option(help="Ingress port (default 8080).")] = None,
    admin_port: Annotated[int | None, typer.Option(help="Admin API port (default 9070).")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where node info and logs live (default .rt).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML settings file.")] = None,
) -> None:
    """Run a node (processors, ingress, admin, timers, subscriptions) with no service file,
    against the Kafka and Redis named in the settings; services come by registration
    (`rt deployments register`). Several servers on one Kafka + Redis share the partitions."""
    settings = _settings(
        config, ingress_port=ingress_port, admin_port=admin_port, state_dir=state_dir
    )
    missing = [
        name
        for name, value in (
            ("kafka_bootstrap (RT_KAFKA_BOOTSTRAP)", settings.kafka_bootstrap),
            ("redis_url (RT_REDIS_URL)", settings.redis_url),
        )
        if not value
    ]
    if missing:
        _fail(
            f"rt server runs against an existing Kafka and Redis: set {' and '.join(missing)} "
            "(`rt dev` starts local ones)",
            2,
        )
    _run_node(settings, [], fresh=False, title="rt server")


@devstack_app.command("fetch")
def devstack_fetch(
    kafka_version: Annotated[str | None, typer.Option(help="Kafka version to resolve.")] = None,
) -> None:
    """Resolve the Kafka broker jars from Maven Central into the cache."""
    from runtime.devstack.kafka import ensure_jars

    version = kafka_version or Settings().kafka_version
    try:
        lib = ensure_jars(version)
    except RuntimeError as e:
        _fail(str(e))
    out.print(f"Kafka {version} jars in {lib}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
