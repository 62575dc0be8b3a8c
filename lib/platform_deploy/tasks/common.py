"""What every task shares: settings from the Invoke config, the engine, and user errors as one-line exits."""

import functools
import logging
import sys

from invoke import Exit

from ..config import load_registry
from ..errors import PlatformError
from ..settings import Settings


def settings_from(ctx) -> Settings:
    return Settings.load(ctx.config.get("platform", {}))


def engine_from(settings: Settings):
    """The container engine the tasks act on (connected on first use, so commands that never ask stay fast)."""
    if settings.on_swarm:   # refuses an unknown engine
        from ..engine.swarm import SwarmEngine

        return SwarmEngine()
    from ..engine.docker import DockerEngine

    return DockerEngine()


def deployment_class(settings: Settings):
    """The deploy pipeline for the engine: containers on one host, services on a swarm."""
    if settings.on_swarm:
        from ..swarm.deploy import SwarmDeployment

        return SwarmDeployment
    from ..deploy.pipeline import Deployment

    return Deployment


def registry_from(settings: Settings):
    return load_registry(settings.projects_file, shown_as=settings.relative(settings.projects_file))


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def user_errors(function):
    """Turn a PlatformError (the engine going away included) into ``invoke.Exit``: message, exit 1,
    no traceback unless --debug."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except PlatformError as error:
            if logging.getLogger("invoke").isEnabledFor(logging.DEBUG):
                raise
            raise Exit(f"error: {error}" if "\n" not in str(error) else str(error), code=1) from None

    return wrapper
