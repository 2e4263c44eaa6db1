"""The vendor gateway over HTTP, shaped like Microsoft Partner Center's REST API (v1).

Every call sends ``MS-RequestId`` (new per call) and ``MS-CorrelationId``; every
mutating call also sends ``Idempotency-Key``. Timeouts, 5xx and dropped connections
become ``VendorUnavailable`` (retry); 4xx become ``VendorRefused`` with the vendor's
error name and description.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from csp.vendor.gateway import (
    AgreementAttestation,
    CompanyProfile,
    LineItem,
    RatedUsageLine,
    TenantUser,
    TransitionEligibility,
    VendorCustomer,
    VendorEntitlement,
    VendorGdapRelationship,
    VendorNotFound,
    VendorOrder,
    VendorOrderLine,
    VendorRefused,
    VendorSubscription,
    VendorTransition,
    VendorUnavailable,
)

GDAP = "/v1/tenantRelationships/delegatedAdminRelationships"
# Where a customer's global admin approves a relationship (Microsoft's admin centre); a
# vendor that serves its own page (the simulator) says so in the answer.
GDAP_APPROVAL_URL = "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{id}"


class HttpVendorGateway:
    def __init__(self, base_url: str, timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "csp-platform"},
        )

    def close(self) -> None:
        self._client.close()

    # --- plumbing ---------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        allow_404: bool = False,
    ) -> httpx.Response:
        headers = {"MS-RequestId": str(uuid.uuid4()), "MS-CorrelationId": str(uuid.uuid4())}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            r = self._client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TimeoutException as e:
            raise VendorUnavailable(f"{method} {path}: timed out ({type(e).__name__})") from None
        except httpx.TransportError as e:
            raise VendorUnavailable(f"{method} {path}: {type(e).__name__}: {e}") from None
        if r.status_code >= 500 or r.status_code == 429:
            raise VendorUnavailable(f"{method} {path}: the vendor answered {r.status_code}")
        if r.status_code == 404 and allow_404:
            return r
        if r.status_code >= 400:
            raise _refusal(r)
        return r

    # --- customers (tenants) ------------------------------------------------

    def domain_exists(self, domain: str) -> bool:
        r = self._call("HEAD", f"/v1/domains/{quote(domain)}", allow_404=True)
        return r.status_code == 200

    def create_customer(self, domain: str, profile: CompanyProfile, idempotency_key: str) -> VendorCustomer:
        body = {
            "companyProfile": {"domain": domain, "companyName": profile.company_name},
            "billingProfile": {
                "email": profile.email,
                "companyName": profile.company_name,
                "defaultAddress": {
                    "country": profile.country,
                    "city": profile.city,
                    "addressLine1": profile.address_line1,
                    "postalCode": profile.postal_code,
                    "phoneNumber": profile.phone,
                },
            },
        }
        return _customer(self._call("POST", "/v1/customers", json=body, idempotency_key=idempotency_key).json())

    def get_customer(self, customer_id: str) -> VendorCustomer:
        return _customer(self._call("GET", f"/v1/customers/{quote(customer_id)}").json())

    def find_customer(self, domain: str) -> VendorCustomer | None:
        items = self._call("GET", "/v1/customers", params={"domain": domain}).json()["items"]
        return _customer(items[0]) if items else None

    def accept_agreement(self, customer_id: str, attestation: AgreementAttestation, idempotency_key: str) -> None:
        a = attestation
        body = {
            "agreementType": "MicrosoftCustomerAgreement",
            "dateAgreed": a.date_agreed,
            "templateId": a.template_id,
            "primaryContact": {
                "firstName": a.first_name,
                "lastName": a.last_name,
                "email": a.email,
                "phoneNumber": a.phone,
            },
        }
        self._call("POST", f"/v1/customers/{quote(customer_id)}/agreements", json=body, idempotency_key=idempotency_key)

    def relationship_request_url(self) -> str:
        return str(self._call("GET", "/v1/customers/relationshiprequests").json()["url"])

    # --- orders and subscriptions --------------------------------------------

    def place_order(self, customer_id: str, line_items: list[LineItem], idempotency_key: str) -> VendorOrder:
        body = {
            "lineItems": [
                {
                    "lineItemNumber": li.line_number,
                    "offerId": li.offer_id,
                    "quantity": li.quantity,
                    "billingCycle": li.billing_cycle,
                    "termDuration": li.term_duration,
                    **({"parentSubscriptionId": li.parent_subscription_id} if li.parent_subscription_id else {}),
                    **({"parentLineItemNumber": li.parent_line_number} if li.parent_line_number else {}),
                }
                for li in line_items
            ]
        }
        r = self._call("POST", f"/v1/customers/{quote(customer_id)}/orders", json=body, idempotency_key=idempotency_key)
        return _order(r.json())

    def get_order(self, customer_id: str, order_id: str) -> VendorOrder:
        return _order(self._call("GET", f"/v1/customers/{quote(customer_id)}/orders/{quote(order_id)}").json())

    def find_order(self, customer_id: str, idempotency_key: str) -> VendorOrder | None:
        path = f"/v1/customers/{quote(customer_id)}/orders"
        items = self._call("GET", path, params={"idempotencyKey": idempotency_key}).json()["items"]
        found = [o for o in (_order(i) for i in items) if o.idempotency_key == idempotency_key]
        return found[0] if found else None

    def list_orders(self, customer_id: str) -> list[VendorOrder]:
        items = self._call("GET", f"/v1/customers/{quote(customer_id)}/orders").json()["items"]
        return [_order(i) for i in items]

    def list_customers(self) -> list[VendorCustomer]:
        return [_customer(i) for i in self._call("GET", "/v1/customers").json()["items"]]

    def list_subscriptions(self, customer_id: str) -> list[VendorSubscription]:
        items = self._call("GET", f"/v1/customers/{quote(customer_id)}/subscriptions").json()["items"]
        return [_subscription(i) for i in items]

    def get_subscription(self, customer_id: str, subscription_id: str) -> VendorSubscription:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}"
        return _subscription(self._call("GET", path).json())

    def update_subscription(
        self, customer_id: str, subscription_id: str, changes: dict[str, Any], idempotency_key: str
    ) -> VendorSubscription:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}"
        return _subscription(self._call("PATCH", path, json=changes, idempotency_key=idempotency_key).json())

    def convert_trial(
        self,
        customer_id: str,
        subscription_id: str,
        offer_id: str,
        quantity: int,
        billing_cycle: str,
        term_duration: str,
        idempotency_key: str,
    ) -> VendorSubscription:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}/conversions"
        body = {
            "targetOfferId": offer_id,
            "quantity": quantity,
            "billingCycle": billing_cycle,
            "termDuration": term_duration,
        }
        return _subscription(self._call("POST", path, json=body, idempotency_key=idempotency_key).json())

    # --- Azure plans ---

    def list_entitlements(self, customer_id: str, subscription_id: str) -> list[VendorEntitlement]:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}/azureEntitlements"
        return [_entitlement(i) for i in self._call("GET", path).json()["items"]]

    def create_entitlement(
        self, customer_id: str, subscription_id: str, name: str, idempotency_key: str
    ) -> VendorEntitlement:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}/azureEntitlements"
        r = self._call("POST", path, json={"friendlyName": name}, idempotency_key=idempotency_key)
        return _entitlement(r.json())

    def rated_usage(self, customer_id: str, subscription_id: str, day: str) -> list[RatedUsageLine]:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}/ratedUsage"
        items = self._call("GET", path, params={"usageDate": day}).json()["items"]
        return [
            RatedUsageLine(
                usage_date=i["usageDate"],
                subscription_id=i["subscriptionId"],
                entitlement_id=i["entitlementId"],
                entitlement_name=i.get("entitlementDescription", ""),
                meter_id=i.get("meterId", ""),
                meter_name=i["meterName"],
                meter_category=i.get("meterCategory", ""),
                unit=i.get("unitOfMeasure", ""),
                quantity=Decimal(i["quantity"]),
                unit_price=Decimal(i["unitPrice"]),
                currency=i.get("pricingCurrency", "EUR"),
            )
            for i in items
        ]

    # --- transitions (upgrades) ---

    def transition_eligibilities(self, customer_id: str, subscription_id: str) -> list[TransitionEligibility]:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}/transitionEligibilities"
        items = self._call("GET", path, params={"eligibilityType": "immediate"}).json()["items"]
        out = []
        for i in items:
            e = (i.get("eligibilities") or [{}])[0]
            errors = tuple(str(x.get("description", x.get("code", ""))) for x in e.get("errors", []))
            out.append(TransitionEligibility(i["catalogItemId"], i.get("title", ""), bool(e.get("isEligible")), errors))
        return out

    def transition(
        self, customer_id: str, subscription_id: str, offer_id: str, quantity: int, idempotency_key: str
    ) -> VendorTransition:
        path = f"/v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}/transitions"
        body = {"toCatalogItemId": offer_id, "quantity": quantity, "transitionType": "transition_only"}
        d = self._call("POST", path, json=body, idempotency_key=idempotency_key).json()
        return VendorTransition(
            id=d["id"],
            from_subscription_id=d["fromSubscriptionId"],
            to_subscription_id=d["toSubscriptionId"],
            to_offer_id=d["toCatalogItemId"],
            quantity=int(d["quantity"]),
            status=d["status"],
        )

    # --- a customer tenant's users and their licences ---------------------------

    def list_users(self, customer_id: str) -> list[TenantUser]:
        items = self._call("GET", f"/v1/customers/{quote(customer_id)}/users").json()["items"]
        return [_user(i) for i in items]

    def create_user(
        self, customer_id: str, user_principal_name: str, display_name: str, idempotency_key: str
    ) -> TenantUser:
        body = {"userPrincipalName": user_principal_name, "displayName": display_name}
        path = f"/v1/customers/{quote(customer_id)}/users"
        return _user(self._call("POST", path, json=body, idempotency_key=idempotency_key).json())

    def _licence_update(self, customer_id: str, user_id: str, body: dict[str, Any], key: str) -> TenantUser:
        path = f"/v1/customers/{quote(customer_id)}/users/{quote(user_id)}/licenses"
        return _user(self._call("POST", path, json=body, idempotency_key=key).json())

    def assign_licence(self, customer_id: str, user_id: str, subscription_id: str, idempotency_key: str) -> TenantUser:
        body = {"addLicenses": [{"subscriptionId": subscription_id}], "removeLicenses": []}
        return self._licence_update(customer_id, user_id, body, idempotency_key)

    def unassign_licence(
        self, customer_id: str, user_id: str, subscription_id: str, idempotency_key: str
    ) -> TenantUser:
        body = {"addLicenses": [], "removeLicenses": [{"subscriptionId": subscription_id}]}
        return self._licence_update(customer_id, user_id, body, idempotency_key)

    # --- GDAP relationships (Partner Center's granular delegated admin API) ---------

    def create_gdap_relationship(
        self,
        customer_id: str,
        display_name: str,
        role_ids: tuple[str, ...],
        duration_days: int,
        auto_extend: bool,
        idempotency_key: str,
    ) -> VendorGdapRelationship:
        body = {
            "displayName": display_name,
            "duration": f"P{duration_days}D",
            "customer": {"tenantId": customer_id},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in role_ids]},
            "autoExtendDuration": "P180D" if auto_extend else "PT0S",
        }
        rel = _gdap(self._call("POST", GDAP, json=body, idempotency_key=idempotency_key).json())
        if rel.status != "created":
            return rel
        # created: locked for approval, so the customer's admin can approve it
        path = f"{GDAP}/{quote(rel.id)}/requests"
        self._call("POST", path, json={"action": "lockForApproval"}, idempotency_key=f"{idempotency_key}:lock")
        return self.get_gdap_relationship(rel.id)

    def get_gdap_relationship(self, relationship_id: str) -> VendorGdapRelationship:
        return _gdap(self._call("GET", f"{GDAP}/{quote(relationship_id)}").json())

    def list_gdap_relationships(self, customer_id: str) -> list[VendorGdapRelationship]:
        params = {"$filter": f"customer/tenantId eq '{customer_id}'"}
        return [_gdap(i) for i in self._call("GET", GDAP, params=params).json()["value"]]

    def terminate_gdap_relationship(self, relationship_id: str, idempotency_key: str) -> VendorGdapRelationship:
        path = f"{GDAP}/{quote(relationship_id)}/requests"
        self._call("POST", path, json={"action": "terminate"}, idempotency_key=idempotency_key)
        return self.get_gdap_relationship(relationship_id)

    def assign_gdap_access(
        self, relationship_id: str, security_group_id: str, role_ids: tuple[str, ...], idempotency_key: str
    ) -> str:
        body = {
            "accessContainer": {"accessContainerId": security_group_id, "accessContainerType": "securityGroup"},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in role_ids]},
        }
        path = f"{GDAP}/{quote(relationship_id)}/accessAssignments"
        return str(self._call("POST", path, json=body, idempotency_key=idempotency_key).json()["id"])


def _user(d: dict[str, Any]) -> TenantUser:
    return TenantUser(
        id=d["id"],
        user_principal_name=d["userPrincipalName"],
        display_name=d.get("displayName", ""),
        licences=tuple(str(x["subscriptionId"]) for x in d.get("assignedLicenses", [])),
    )


def _days(duration: str) -> int:
    """``P730D`` → 730 (Partner Center writes GDAP durations in days)."""
    return int(duration.removeprefix("P").removesuffix("D") or 0) if duration.endswith("D") else 0


def _gdap(d: dict[str, Any]) -> VendorGdapRelationship:
    return VendorGdapRelationship(
        id=d["id"],
        customer_id=d.get("customer", {}).get("tenantId", ""),
        status=d["status"],
        role_ids=tuple(r["roleDefinitionId"] for r in d.get("accessDetails", {}).get("unifiedRoles", [])),
        duration_days=_days(str(d.get("duration", ""))),
        auto_extend=_days(str(d.get("autoExtendDuration", ""))) > 0,
        approval_url=str(d.get("approvalUrl") or GDAP_APPROVAL_URL.format(id=d["id"])),
        activated_at=d.get("activatedDateTime"),
        ends_at=d.get("endDateTime"),
    )


def _refusal(r: httpx.Response) -> VendorRefused:
    try:
        body = r.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    name = str(body.get("errorName") or f"http_{r.status_code}")
    description = str(body.get("description") or r.reason_phrase or "refused")
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    cls = VendorNotFound if r.status_code == 404 else VendorRefused
    return cls(name, description, status=r.status_code, data=data)


def _customer(d: dict[str, Any]) -> VendorCustomer:
    return VendorCustomer(
        id=d["id"],
        domain=d["companyProfile"]["domain"],
        status=d["status"],
        admin_username=d.get("userCredentials", {}).get("userName", ""),
        delegated_access=bool(d.get("allowDelegatedAccess")),
        agreement_accepted=bool(d.get("agreementAccepted")),
    )


def _order(d: dict[str, Any]) -> VendorOrder:
    return VendorOrder(
        id=d["id"],
        customer_id=d["customerId"],
        status=d["status"],
        line_items=tuple(
            VendorOrderLine(
                line_number=li["lineItemNumber"],
                offer_id=li["offerId"],
                quantity=li["quantity"],
                subscription_id=li.get("subscriptionId"),
            )
            for li in d["lineItems"]
        ),
        idempotency_key=d.get("idempotencyKey"),
    )


def _subscription(d: dict[str, Any]) -> VendorSubscription:
    known = {
        "id",
        "customerId",
        "offerId",
        "quantity",
        "status",
        "billingCycle",
        "termDuration",
        "autoRenewEnabled",
        "assignedLicenses",
        "parentSubscriptionId",
        "isTrial",
    }
    return VendorSubscription(
        id=d["id"],
        customer_id=d["customerId"],
        offer_id=d["offerId"],
        quantity=d["quantity"],
        status=d["status"],
        billing_cycle=d["billingCycle"],
        term_duration=d["termDuration"],
        auto_renew=bool(d["autoRenewEnabled"]),
        assigned_licences=int(d.get("assignedLicenses", 0)),
        parent_subscription_id=d.get("parentSubscriptionId"),
        is_trial=bool(d.get("isTrial", False)),
        extra={k: v for k, v in d.items() if k not in known},
    )


def _entitlement(i: dict[str, Any]) -> VendorEntitlement:
    return VendorEntitlement(id=i["id"], name=i.get("friendlyName", ""), status=i.get("status", "active"))
