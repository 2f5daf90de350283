"""Registry of the command groups defined outside :mod:`forecast.cli`.

Each module listed here defines ``register(app)``, which adds its commands.
Those modules import only typer at the top, so registering them costs nothing.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES: tuple[str, ...] = (
    "forecast.cli_report",
    "forecast.cli_sensitivity",
    "forecast.cli_calibrate",
)


def register_commands(app: typer.Typer) -> None:
    """Add every listed module's commands to ``app``."""
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
