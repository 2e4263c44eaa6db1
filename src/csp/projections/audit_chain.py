"""Has anyone altered or removed a stored event? (tamper evidence for auditors)

A hash chain over the notification log as stored: each notification's hash covers its
aggregate id, version, topic and stored state bytes, and each link covers the previous
link, the notification id and that hash. ``csp audit verify`` recomputes the chain from
the stored events and names the first notification whose row was altered or removed.
Someone able to rewrite both the events and this table can rewrite the chain too: keep
the head hash that ``verify`` prints somewhere else (a log, a ticket) to anchor it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification

from csp.projections.model import ReadModel
from csp.projections.rows import Rows
from csp.projections.sql import Memo, Table, cols
from csp.projections.store import ReadView

GENESIS = "0" * 64
AUDIT_CHAIN = Table(
    "read_audit_chain",
    cols(
        "notification_id int!, originator_id uuid!, originator_version int!, topic text!, event_hash text!, "
        "chain_hash text!"
    ),
    key=("notification_id",),
)
AUDIT_HEAD = Table("read_audit_head", cols("id int!, notification_id int!, chain_hash text!"), key=("id",))
_PAGE = 2000


_id_text = Memo(str)  # an aggregate's id recurs in each of its events


def event_hash(originator_id: object, originator_version: int, topic: str, state: bytes) -> str:
    oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    h = hashlib.sha256(f"{_id_text(oid)}\n{originator_version}\n{topic}\n".encode())
    h.update(state if isinstance(state, bytes) else bytes(state))
    return h.hexdigest()


def link(previous: str, notification_id: int, hashed: str) -> str:
    return hashlib.sha256(f"{previous}:{notification_id}:{hashed}".encode()).hexdigest()


class AuditChain(ReadModel):
    name = "audit_chain"
    tables = (AUDIT_CHAIN, AUDIT_HEAD)
    all_events = True
    cost = 4

    def apply_notifications(self, notifications: Sequence[Notification], rows: Rows) -> None:
        """A batch at once: the head is read and written once, each link hashed in turn."""
        if not notifications:
            return
        head = rows.get(AUDIT_HEAD, (1,))
        previous = head["chain_hash"] if head is not None else GENESIS
        for n in notifications:
            oid = n.originator_id if isinstance(n.originator_id, UUID) else UUID(str(n.originator_id))
            hashed = event_hash(oid, n.originator_version, n.topic, n.state)
            previous = link(previous, n.id, hashed)
            rows.put(
                AUDIT_CHAIN,
                {
                    "notification_id": n.id,
                    "originator_id": oid,
                    "originator_version": n.originator_version,
                    "topic": n.topic,
                    "event_hash": hashed,
                    "chain_hash": previous,
                },
            )
        rows.put(AUDIT_HEAD, {"id": 1, "notification_id": notifications[-1].id, "chain_hash": previous})


@dataclass
class Verification:
    """What ``verify`` found: ``problem`` is None when the log matches its chain."""

    checked: int
    head_id: int | None
    head_hash: str | None
    unchained: int  # events after the chain's head (not followed yet)
    problem: str | None = None  # altered | removed | inserted | chain_altered
    notification_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def message(self) -> str:
        if self.problem is None:
            tail = f"; {self.unchained} newer event(s) not chained yet" if self.unchained else ""
            return f"ok: {self.checked} events match the chain (head {self.head_id}: {self.head_hash}){tail}"
        what = {
            "altered": "was altered (its stored event no longer matches its hash)",
            "removed": "was removed (the chain has it, the log does not)",
            "inserted": "was inserted (the log has it, the chain skipped it)",
            "chain_altered": "has an altered chain link",
        }[self.problem]
        return f"TAMPERED: notification {self.notification_id} {what}"


def _events(recorder: ApplicationRecorder) -> Iterator[Notification]:
    start = 0
    while True:
        page = recorder.select_notifications(start, _PAGE, inclusive_of_start=False)
        yield from page
        if len(page) < _PAGE:
            return
        start = page[-1].id


def _chain(view: ReadView) -> Iterator[dict[str, object]]:
    d = view.dialect
    names = ", ".join(f'"{c}"' for c in AUDIT_CHAIN.column_names)
    start = 0
    while True:
        with view.tx(write=False) as tx:
            found = tx.query(
                d.q(
                    f'SELECT {names} FROM {d.qualify(AUDIT_CHAIN.name)} WHERE "notification_id" > ? '
                    'ORDER BY "notification_id" LIMIT ?'
                ),
                [start, _PAGE],
            )
        for r in found:
            yield d.decode_row(AUDIT_CHAIN.types(), r)
        if len(found) < _PAGE:
            return
        start = int(found[-1]["notification_id"])


def verify(recorder: ApplicationRecorder, view: ReadView) -> Verification:
    """Recompute the chain from the stored events; report the first discrepancy."""
    with view.tx(write=False) as tx:
        head_rows = tx.query(
            view.dialect.q(f'SELECT "notification_id", "chain_hash" FROM {view.dialect.qualify(AUDIT_HEAD.name)}')
        )
    head_id = int(head_rows[0]["notification_id"]) if head_rows else None
    head_hash = str(head_rows[0]["chain_hash"]) if head_rows else None
    result = Verification(0, head_id, head_hash, 0)
    events = _events(recorder)
    pending: Notification | None = next(events, None)
    previous = GENESIS
    last_chained = 0
    for c in _chain(view):
        cid = int(c["notification_id"])  # type: ignore[call-overload]
        if head_id is not None and cid > head_id:
            break
        if pending is not None and pending.id < cid:
            result.problem, result.notification_id = "inserted", pending.id
            return result
        if pending is None or pending.id > cid:
            result.problem, result.notification_id = "removed", cid
            return result
        hashed = event_hash(pending.originator_id, pending.originator_version, pending.topic, pending.state)
        if hashed != c["event_hash"]:
            result.problem, result.notification_id = "altered", cid
            return result
        if link(previous, cid, hashed) != c["chain_hash"]:
            result.problem, result.notification_id = "chain_altered", cid
            return result
        previous = str(c["chain_hash"])
        last_chained = cid
        result.checked += 1
        pending = next(events, None)
    if head_id is not None and (head_id != last_chained or head_hash != previous):
        result.problem, result.notification_id = "removed", head_id
        return result
    while pending is not None:
        result.unchained += 1
        pending = next(events, None)
    return result
