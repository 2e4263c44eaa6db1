"""The simulator's GDAP relationships and customer agreements (Partner Center's shapes).

GDAP: ``/v1/tenantRelationships/delegatedAdminRelationships`` as Microsoft Graph serves it
to a partner: a relationship is created (roles by Entra role template id, a duration of
1 to 730 days, auto-extend by 180 days or not), locked for approval, approved by the
customer's global admin on the approval page this simulator serves (Microsoft's is on
admin.microsoft.com) within 90 days of its creation (or it expires unapproved, and can
never be approved), then active until its end: on the platform's clock it expires
there, or is extended by 180 days when it auto-extends. Global Administrator never
auto-extends. Access assignments give its roles to the partner's security groups.

Agreements: ``POST /v1/customers/{id}/agreements`` stores the Microsoft Customer
Agreement acceptance (signatory, date, template); orders need one (``place_order``).
"""

from __future__ import annotations

import html
import json
import sqlite3
import tomllib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from csp.vendor.sim_common import Refusal, _in_thread

GDAP = "/v1/tenantRelationships/delegatedAdminRelationships"
DAY = 86400.0
AUTO_EXTEND_SECONDS = 180 * DAY
APPROVAL_SECONDS = 90 * DAY  # an unapproved request expires 90 days after its creation
MAX_DAYS = 730
GLOBAL_ADMINISTRATOR_ID = "62e90394-69f5-4237-9190-012177145e10"

SCHEMA = """
CREATE TABLE IF NOT EXISTS gdap (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, display_name TEXT NOT NULL, roles TEXT NOT NULL,
    duration_days INTEGER NOT NULL, auto_extend INTEGER NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, activated_at REAL, ends_at REAL);
CREATE TABLE IF NOT EXISTS gdap_access (
    id TEXT PRIMARY KEY, relationship_id TEXT NOT NULL, group_id TEXT NOT NULL, roles TEXT NOT NULL,
    created_at REAL NOT NULL, UNIQUE (relationship_id, group_id));
CREATE TABLE IF NOT EXISTS agreements (
    customer_id TEXT NOT NULL, template_id TEXT NOT NULL, date_agreed TEXT NOT NULL, contact TEXT NOT NULL,
    recorded_at REAL NOT NULL);
"""

Serve = Callable[[Request, Callable[[sqlite3.Connection], tuple[int, Any]], bool], Response]
BodyOf = Callable[[Request], Awaitable[dict[str, Any]]]


def _published() -> dict[str, Any]:
    text = resources.files("csp.data").joinpath("partner_center.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def role_ids() -> set[str]:
    return {r["id"] for r in _published()["entra_roles"]}


def agreement_templates() -> set[str]:
    return {a["template_id"] for a in _published()["agreements"]}


def _days(value: Any, field: str) -> int:
    text = str(value or "")
    if not (text.startswith("P") and text.endswith("D") and text[1:-1].isdigit()):
        raise Refusal(400, "InvalidDuration", f"{field} must read like P730D", field=field)
    return int(text[1:-1])


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


class GdapState:
    """The relationships' rows, read on the platform's clock (``now``)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.roles = role_ids()
        self.templates = agreement_templates()

    def effective(self, row: sqlite3.Row) -> tuple[str, float | None]:
        """Status and end as of now: at its end an active one expires, or auto-extends; a
        request not approved within 90 days of its creation expires."""
        status, ends = str(row["status"]), row["ends_at"]
        if status in ("created", "approvalPending") and self.now() >= row["created_at"] + APPROVAL_SECONDS:
            return "expired", None
        if status == "active" and ends is not None and self.now() >= ends:
            if row["auto_extend"]:
                periods = int((self.now() - ends) // AUTO_EXTEND_SECONDS) + 1
                ends = ends + periods * AUTO_EXTEND_SECONDS
            else:
                status = "expired"
        return status, ends

    def as_json(self, row: sqlite3.Row, approval_url: str) -> dict[str, Any]:
        status, ends = self.effective(row)
        return {
            "id": row["id"],
            "displayName": row["display_name"],
            "customer": {"tenantId": row["customer_id"]},
            "duration": f"P{row['duration_days']}D",
            "autoExtendDuration": "P180D" if row["auto_extend"] else "PT0S",
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in json.loads(row["roles"])]},
            "status": status,
            "createdDateTime": _iso(row["created_at"]),
            "activatedDateTime": _iso(row["activated_at"]),
            "endDateTime": _iso(ends),
            "approvalUrl": approval_url,
        }

    def row(self, c: sqlite3.Connection, rel_id: str) -> sqlite3.Row:
        found = c.execute("SELECT * FROM gdap WHERE id = ?", (rel_id,)).fetchone()
        if found is None:
            raise Refusal(404, "RelationshipNotFound", f"no delegated admin relationship {rel_id}")
        return found  # type: ignore[no-any-return]

    def create(self, c: sqlite3.Connection, body: dict[str, Any]) -> str:
        name = str(body.get("displayName") or "").strip()
        if not name:
            raise Refusal(400, "InvalidDisplayName", "displayName is required", field="displayName")
        customer_id = str((body.get("customer") or {}).get("tenantId") or "")
        if c.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone() is None:
            raise Refusal(404, "CustomerNotFound", f"no customer tenant {customer_id or '(none)'}")
        days = _days(body.get("duration"), "duration")
        if not 1 <= days <= MAX_DAYS:
            raise Refusal(400, "InvalidDuration", f"duration must be 1 to {MAX_DAYS} days", field="duration")
        unified = (body.get("accessDetails") or {}).get("unifiedRoles") or []
        roles = [str(r.get("roleDefinitionId", "")) for r in unified if isinstance(r, dict)]
        if not roles:
            raise Refusal(400, "InvalidAccessDetails", "ask for at least one role", field="accessDetails")
        unknown = [r for r in roles if r not in self.roles]
        if unknown:
            raise Refusal(400, "InvalidRoleDefinition", f"no such role {unknown[0]}", roleDefinitionId=unknown[0])
        extend = str(body.get("autoExtendDuration") or "PT0S")
        if extend not in ("PT0S", "P180D"):
            raise Refusal(400, "InvalidAutoExtendDuration", "autoExtendDuration is P180D or PT0S")
        if extend == "P180D" and GLOBAL_ADMINISTRATOR_ID in roles:
            raise Refusal(
                400,
                "AutoExtendNotAllowed",
                "a relationship with the Global Administrator role cannot auto-extend",
                field="autoExtendDuration",
            )
        rel_id = str(uuid.uuid4())
        c.execute(
            "INSERT INTO gdap (id, customer_id, display_name, roles, duration_days, auto_extend, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'created', ?)",
            (rel_id, customer_id, name, json.dumps(roles), days, int(extend == "P180D"), self.now()),
        )
        return rel_id

    def action(self, c: sqlite3.Connection, rel_id: str, action: str) -> None:
        row = self.row(c, rel_id)
        status, _ = self.effective(row)
        if action == "lockForApproval":
            if status == "approvalPending":
                return
            if status != "created":
                raise Refusal(409, "InvalidStatusTransition", f"a {status} relationship cannot be locked")
            c.execute("UPDATE gdap SET status = 'approvalPending' WHERE id = ?", (rel_id,))
        elif action == "terminate":
            if status == "terminated":
                return
            if status not in ("created", "approvalPending", "active"):
                raise Refusal(409, "InvalidStatusTransition", f"a {status} relationship cannot be terminated")
            c.execute("UPDATE gdap SET status = 'terminated' WHERE id = ?", (rel_id,))
        else:
            raise Refusal(400, "InvalidAction", f"unknown action {action!r}")

    def approve(self, c: sqlite3.Connection, rel_id: str) -> str:
        """The customer's global admin approves: active from now, for its duration."""
        row = self.row(c, rel_id)
        status, _ = self.effective(row)
        if status == "active":
            return "already active"
        if status != "approvalPending":
            return f"this relationship is {status}; it cannot be approved"
        now = self.now()
        c.execute(
            "UPDATE gdap SET status = 'active', activated_at = ?, ends_at = ? WHERE id = ?",
            (now, now + row["duration_days"] * DAY, rel_id),
        )
        return ""

    def assign(self, c: sqlite3.Connection, rel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        row = self.row(c, rel_id)
        status, _ = self.effective(row)
        if status != "active":
            raise Refusal(409, "RelationshipNotActive", f"the relationship is {status}")
        container = body.get("accessContainer") or {}
        group = str(container.get("accessContainerId") or "")
        if not group or container.get("accessContainerType") != "securityGroup":
            raise Refusal(400, "InvalidAccessContainer", "a security group's id is required")
        unified = (body.get("accessDetails") or {}).get("unifiedRoles") or []
        roles = [str(r.get("roleDefinitionId", "")) for r in unified if isinstance(r, dict)]
        granted = set(json.loads(row["roles"]))
        if not roles or not set(roles) <= granted:
            raise Refusal(400, "InvalidAccessDetails", "an assignment gives only roles the relationship has")
        prior = c.execute(
            "SELECT id FROM gdap_access WHERE relationship_id = ? AND group_id = ?", (rel_id, group)
        ).fetchone()
        if prior is not None:
            raise Refusal(409, "AccessAssignmentExists", "this security group already has an assignment")
        aid = str(uuid.uuid4())
        c.execute(
            "INSERT INTO gdap_access (id, relationship_id, group_id, roles, created_at) VALUES (?, ?, ?, ?, ?)",
            (aid, rel_id, group, json.dumps(roles), self.now()),
        )
        return {
            "id": aid,
            "status": "active",
            "accessContainer": {"accessContainerId": group, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in roles]},
        }

    def has_active(self, c: sqlite3.Connection, customer_id: str) -> bool:
        rows = c.execute("SELECT * FROM gdap WHERE customer_id = ?", (customer_id,)).fetchall()
        return any(self.effective(r)[0] == "active" for r in rows)

    def record_agreement(self, c: sqlite3.Connection, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("agreementType") != "MicrosoftCustomerAgreement":
            raise Refusal(400, "InvalidAgreement", "agreementType must be MicrosoftCustomerAgreement")
        template = str(body.get("templateId") or "")
        if template not in self.templates:
            raise Refusal(400, "InvalidTemplateId", f"no agreement template {template or '(none)'}")
        contact = body.get("primaryContact") or {}
        for name in ("firstName", "lastName", "email"):
            if not str(contact.get(name) or "").strip():
                raise Refusal(400, "InvalidPrimaryContact", f"primaryContact.{name} is required", field=name)
        if "@" not in str(contact["email"]):
            raise Refusal(400, "InvalidPrimaryContact", "primaryContact.email is not an email", field="email")
        try:
            agreed = date.fromisoformat(str(body.get("dateAgreed") or "")[:10])
        except ValueError:
            raise Refusal(400, "InvalidDateAgreed", "dateAgreed is not a date") from None
        if agreed > datetime.fromtimestamp(self.now(), UTC).date():
            raise Refusal(400, "InvalidDateAgreed", "dateAgreed is in the future")
        c.execute(
            "INSERT INTO agreements (customer_id, template_id, date_agreed, contact, recorded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (customer_id, template, agreed.isoformat(), json.dumps(contact), self.now()),
        )
        c.execute("UPDATE customers SET agreement = 1 WHERE id = ?", (customer_id,))
        return {
            "agreementType": "MicrosoftCustomerAgreement",
            "templateId": template,
            "dateAgreed": agreed.isoformat(),
            "primaryContact": contact,
        }


def mount_gdap(app: FastAPI, state: Any, serve: Serve, body_of: BodyOf, now: Callable[[], float]) -> GdapState:
    """The GDAP routes and their approval page, on the simulator's app."""
    gdap = GdapState(now)
    with state.read() as c:
        c.executescript(SCHEMA)

    def approval_url(request: Request, rel_id: str) -> str:
        return str(request.url_for("gdap_approval_page", rel_id=rel_id))

    @app.post(GDAP)
    async def create_relationship(request: Request) -> Response:
        body = await body_of(request)

        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            rel_id = gdap.create(c, body)
            return 201, gdap.as_json(gdap.row(c, rel_id), approval_url(request, rel_id))

        return await _in_thread(lambda: serve(request, work, True))

    @app.get(GDAP)
    def list_relationships(request: Request) -> Response:
        """``$filter=customer/tenantId eq '<id>'`` (the only filter the platform uses)."""
        wanted = request.query_params.get("$filter", "")
        customer = wanted.split("'")[1] if wanted.count("'") >= 2 else ""

        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            sql, args = "SELECT * FROM gdap", []
            if customer:
                sql, args = sql + " WHERE customer_id = ?", [customer]
            rows = c.execute(sql + " ORDER BY created_at", args).fetchall()
            return 200, {"value": [gdap.as_json(r, approval_url(request, r["id"])) for r in rows]}

        return serve(request, work, False)

    @app.get(GDAP + "/{rel_id}")
    def get_relationship(rel_id: str, request: Request) -> Response:
        return serve(request, lambda c: (200, gdap.as_json(gdap.row(c, rel_id), approval_url(request, rel_id))), False)

    @app.post(GDAP + "/{rel_id}/requests")
    async def relationship_request(rel_id: str, request: Request) -> Response:
        body = await body_of(request)

        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            action = str(body.get("action") or "")
            gdap.action(c, rel_id, action)
            return 201, {"id": str(uuid.uuid4()), "action": action, "status": "succeeded"}

        return await _in_thread(lambda: serve(request, work, True))

    @app.post(GDAP + "/{rel_id}/accessAssignments")
    async def access_assignment(rel_id: str, request: Request) -> Response:
        body = await body_of(request)
        return await _in_thread(lambda: serve(request, lambda c: (201, gdap.assign(c, rel_id, body)), True))

    @app.get("/sim/gdap/{rel_id}/approve", name="gdap_approval_page", response_class=HTMLResponse)
    def approval_page(rel_id: str) -> HTMLResponse:
        with state.read() as c:
            try:
                row = gdap.row(c, rel_id)
            except Exception:
                return HTMLResponse(_page("No such relationship.", None), 404)
            status, _ = gdap.effective(row)
        return HTMLResponse(_page("", row, status))

    @app.post("/sim/gdap/{rel_id}/approve", response_class=HTMLResponse)
    def approve(rel_id: str) -> HTMLResponse:
        """The customer's global admin approves (the form's button posts here)."""
        with state.tx() as c:
            try:
                gdap.row(c, rel_id)
            except Exception:
                return HTMLResponse(_page("No such relationship.", None), 404)
            refused = gdap.approve(c, rel_id)
            row = gdap.row(c, rel_id)
        if refused and refused != "already active":
            return HTMLResponse(_page(refused, row, gdap.effective(row)[0]), 409)
        return HTMLResponse(_page("Approved: the partner has these roles on your tenant.", row, "active"))

    return gdap


def _page(message: str, row: sqlite3.Row | None, status: str = "") -> str:
    names = {r["id"]: r["name"] for r in _published()["entra_roles"]}
    note = f'<p role="status">{html.escape(message)}</p>' if message else ""
    details = form = ""
    if row is not None:
        roles = "".join(f"<li>{html.escape(names.get(r, r))}</li>" for r in json.loads(row["roles"]))
        details = (
            f"<p>{html.escape(row['display_name'])}: {row['duration_days']} days"
            f"{', extends itself by 180 days' if row['auto_extend'] else ''}. Status: {html.escape(status)}.</p>"
            f"<ul>{roles}</ul>"
        )
        if status == "approvalPending":
            form = '<form method="post"><button>Approve all roles</button></form>'
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Approve the partner\'s admin relationship</title>'
        "<h1>Granular delegated admin relationship</h1>"
        "<p>The partner asks for these Microsoft Entra roles on your tenant.</p>"
        f"{details}{note}{form}</html>"
    )
