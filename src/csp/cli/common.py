"""What every area's commands share: the consoles, clean errors, and the system a
command's role needs (built by the composition root, ``csp.bootstrap``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from csp.aggregates.errors import CspError
from csp.bootstrap import Role, System, bootstrap
from csp.errors import StartupError
from csp.settings import get_settings

console = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Operators see one clear line for a start-up or domain error, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StartupError as e:
            err.print(f"[bold red]csp:[/] {e}")
            raise typer.Exit(2) from None
        except CspError as e:
            err.print(f"[bold red]csp:[/] {e.code}: {e.message}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def system(load_catalog: bool = True, role: Role = "all") -> System:
    """What a command needs, built by the composition root for its ``role``."""
    return bootstrap(get_settings(), load_catalog=load_catalog, role=role)
