"""The ``csp`` command: run the services, manage the catalog, operate the store.

One Typer app; each area's commands live in a module of this package (``catalog``,
``readside``, ``sagas``, ``serve``, ``oidc``) with a ``register(app)`` function. A
command builds what its process role needs through the composition root
(``csp.bootstrap``, ``common.system(role=...)``), starts or calls it, and closes it:
``serve`` runs the HTTP app (and, on the embedded default, the projector and the
sagas in-process), ``project``/``rebuild``/``audit`` drive the read side's
``Projector``, ``relay``/``worker``/``scheduler`` the sagas. The package imports the
layers (through ``csp.bootstrap``) and no layer imports it.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="csp — the back office of a Microsoft CSP reseller platform.", no_args_is_help=True)


def _register_areas() -> None:
    from csp.cli import catalog, oidc, rates, readside, sagas, serve

    for area in (catalog, readside, sagas, serve, oidc, rates):
        area.register(app)


_register_areas()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
