"""What the web layer is given by the composition root (``csp.bootstrap.web_services``):
the narrow collaborators its routes and pages use, and nothing that builds them."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from csp.application import CspApplication
from csp.clock import Clock
from csp.persistence import Database
from csp.settings import Settings

if TYPE_CHECKING:
    from csp.mail import Mailer
    from csp.projections import ReadSide
    from csp.workers import Sagas


@dataclass(frozen=True)
class Services:
    """The web layer's collaborators; ``resources`` is where it registers what it must
    close at shutdown (session and OIDC-state stores, OIDC providers)."""

    settings: Settings
    database: Database
    app: CspApplication
    clock: Clock
    resources: ExitStack
    read: ReadSide | None = None
    sagas: Sagas | None = None
    mailer: Mailer | None = None
