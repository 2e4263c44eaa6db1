"""What the web layer asks of the workers, as narrow ports: the sagas (``csp.workers.Sagas``)
are reached only through these, each wrapping exactly the calls routes and pages make.

Either port works without sagas in the process (``None``): there is nothing to drain or
run, and the vendor is not reachable (503 ``vendor_unavailable``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from csp.api.errors import Unavailable
from csp.vendor.gateway import VendorError, VendorGateway


class _DueReport(Protocol):
    @property
    def drained(self) -> bool: ...


class _SagaStore(Protocol):
    def pending(self) -> list[Any]: ...

    def failed(self, include_retried: bool = False) -> list[Any]: ...


class Sagas(Protocol):
    """The calls of ``csp.workers.Sagas`` the web layer makes (and no others)."""

    @property
    def store(self) -> _SagaStore: ...

    def drain(self, timeout: float = 30.0) -> bool: ...

    def run_due(self, now: datetime, timeout: float = 30.0) -> _DueReport: ...

    def relationship_request_url(self) -> str: ...

    def gateway(self) -> VendorGateway: ...  # a tenant's users, read from the vendor (tenant_directory)
    def deliveries(self, endpoint_id: UUID, limit: int = 50, offset: int = 0) -> tuple[list[Any], int]: ...

    def delivery(self, delivery_id: UUID) -> Any: ...

    def replay_delivery(self, delivery_id: UUID) -> str: ...
    def approve_gdap_as_customer(self, gdap_id: str, approval_url: str) -> bool: ...


class SagaControl:
    """The sagas as operations see them: wait until they settled, run what became due at
    a moment of the test clock, count their messages by outcome (for ``/metrics``)."""

    def __init__(self, sagas: Sagas | None) -> None:
        self._sagas = sagas

    def drain(self) -> bool:
        """Wait until what was decided so far reached the vendor; False if still running."""
        return self._sagas is None or self._sagas.drain()

    def run_due(self, now: datetime) -> bool:
        """Run every job due at ``now`` and wait for what it caused; False if still running."""
        return self._sagas is None or self._sagas.run_due(now).drained

    def outcomes(self) -> dict[str, float]:
        """Saga messages by state, from the sagas' store (shared by every process)."""
        if self._sagas is None:
            return {}
        store = self._sagas.store
        return {
            "pending": float(len(store.pending())),
            "failed": float(len(store.failed(include_retried=False))),
        }


class VendorLinks:
    """The vendor's links the web layer shows (through the sagas' gateway)."""

    def __init__(self, sagas: Sagas | None) -> None:
        self._sagas = sagas

    def relationship_request_url(self) -> str:
        """The reseller-relationship link for a customer's global admin; 503 when the vendor
        is not reachable from this process or did not give it."""
        if self._sagas is None:
            raise Unavailable("the vendor is not reachable from this process", code="vendor_unavailable")
        try:
            return self._sagas.relationship_request_url()
        except VendorError as e:
            raise Unavailable(f"the vendor did not give the link: {e}", code="vendor_unavailable") from None

    def approve_gdap_as_customer(self, gdap_id: str, approval_url: str) -> bool:
        """Test mode: what the customer's global admin does at the approval link, then wait
        for the GDAP saga to learn it; False if it did not settle in time."""
        if self._sagas is None:
            raise Unavailable("the vendor is not reachable from this process", code="vendor_unavailable")
        try:
            return self._sagas.approve_gdap_as_customer(gdap_id, approval_url)
        except VendorError as e:
            raise Unavailable(f"the vendor's approval page refused: {e}", code="vendor_unavailable") from None


class Webhooks:
    """An endpoint's deliveries and their attempts (the sagas' store, shared by every
    process), and replaying one; 503 without the sagas in this process."""

    def __init__(self, sagas: Sagas | None) -> None:
        self._sagas = sagas

    def _require(self) -> Sagas:
        if self._sagas is None:
            raise Unavailable("the sagas' store is not reachable from this process", code="sagas_unavailable")
        return self._sagas

    def deliveries(self, endpoint_id: UUID, limit: int, offset: int) -> tuple[list[Any], int]:
        return self._require().deliveries(endpoint_id, limit, offset)

    def delivery(self, delivery_id: UUID) -> Any:
        return self._require().delivery(delivery_id)

    def replay(self, delivery_id: UUID) -> str:
        return self._require().replay_delivery(delivery_id)


class SagaRunner(Protocol):
    """What the demo asks of the sagas (``csp.workers.Sagas``): run them, wait for them."""

    @property
    def run_in_process(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def drain(self, timeout: float = 30.0) -> bool: ...


class WebSagas(Sagas, SagaRunner, Protocol):
    """The sagas as the web layer's parts hold them (``csp.api.app.WebParts``): the
    ports' calls and the demo's."""
