"""History for people: each event of an order, subscription or tenant as a sentence (who,
what, when), with what it changed (the state before and after, replayed from the events)
and its money effect (the charges the ledger made at that moment); and the difference of
the state between two instants. The raw events stay on the page for auditors, and as JSON
in the API (``GET …/history``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from csp.api.pages import format as fmt

# What each event is, in words ("{who} …"); an event not listed is named from its class.
VERBS: dict[str, str] = {
    # subscriptions
    "Provisioned": "provisioned the subscription",
    "SeatsAdded": "added licences",
    "SeatsRemoved": "removed licences",
    "RenewalQuantityScheduled": "scheduled the quantity for the renewal",
    "BillingCycleChangeScheduled": "scheduled a change of the billing cycle",
    "BillingCycleChanged": "changed the billing cycle, as scheduled",
    "RenewalTermScheduled": "scheduled the term of the renewal",
    "Suspended": "suspended the subscription",
    "Reactivated": "reactivated the subscription",
    "Cancelled": "cancelled the subscription",
    "CustomerPriceChanged": "changed the customer price",
    "AutoRenewChanged": "changed automatic renewal",
    "Renewed": "renewed the subscription for a new term",
    "Expired": "ended the subscription at the end of its term",
    "Disabled": "disabled the subscription at the end of its term (it was suspended)",
    "TrialConverted": "converted the trial into a paid subscription",
    "AddonAttached": "attached an add-on",
    "AddonDetached": "detached an add-on",
    "AddonRefused": "recorded the vendor's refusal of an add-on",
    "AssignedLicencesSynced": "synced the licences assigned at the vendor",
    "LicenceAssignmentRequested": "gave a licence to a user of the tenant (sent to the vendor)",
    "LicenceUnassignmentRequested": "took a licence back from a user of the tenant (sent to the vendor)",
    "UsageReported": "recorded the vendor's usage report",
    "CancellationWindowsClosed": "closed the 7-day cancellation windows that ended",
    "VendorSubscriptionLinked": "linked the vendor's subscription",
    "VendorChangeAcknowledged": "recorded the vendor's confirmation of a change",
    "VendorChangeRefused": "recorded the vendor's refusal of a change, and restored its state",
    "AdoptedFromVendor": "adopted a subscription found at the vendor and unknown here",
    "CorrectedFromVendor": "set the subscription to what the vendor holds",
    # upgrades (transitions) and the next term (issue 16)
    "TransitionRequested": "asked the vendor to move licences to an upgrade",
    "TransitionCompleted": "recorded the licences moved to the upgrade by the vendor",
    "MovedToBase": "moved the add-on to the upgraded subscription",
    "RenewalOfferScheduled": "scheduled the offer of the next term",
    "RenewalOfferApplied": "renewed as the offer scheduled for the next term",
    "NextTermCleared": "deleted the changes scheduled for the next term",
    # orders
    "Drafted": "created the order (a cart)",
    "LineAdded": "added a line",
    "LineReplaced": "changed a line",
    "LineRemoved": "removed a line",
    "TermsAccepted": "accepted the Product Terms",
    "Placed": "placed the order",
    "Discarded": "discarded the order",
    "ProvisionStarted": "started provisioning at the vendor",
    "LineProvisioned": "provisioned a line at the vendor",
    "ProvisionFinished": "finished provisioning",
    "ProvisionFailed": "recorded that provisioning failed",
    # tenants
    "Requested": "requested the tenant",
    "VerificationStarted": "started verifying the domain at the vendor",
    "VendorCustomerCreated": "recorded the customer created at the vendor (tenant being set up)",
    "VendorAgreementAccepted": "recorded the customer agreement accepted at the vendor",
    "CreatedAtVendor": "recorded the tenant created at the vendor",
    "Linked": "linked an existing tenant",
    "Rejected": "recorded the vendor's rejection of the tenant",
}

# Which filter an event belongs to: the people's decisions, the vendor's answers, the
# platform's scheduled steps.
VENDOR = {
    "AssignedLicencesSynced",
    "UsageReported",
    "VendorSubscriptionLinked",
    "VendorChangeAcknowledged",
    "VendorChangeRefused",
    "AdoptedFromVendor",
    "CorrectedFromVendor",
    "AddonRefused",
    "ProvisionStarted",
    "LineProvisioned",
    "ProvisionFinished",
    "ProvisionFailed",
    "VerificationStarted",
    "VendorCustomerCreated",
    "VendorAgreementAccepted",
    "CreatedAtVendor",
    "Rejected",
    "TransitionCompleted",
    "MovedToBase",
}
SCHEDULED = {
    "Renewed",
    "Expired",
    "Disabled",
    "CancellationWindowsClosed",
    "BillingCycleChanged",
    "RenewalOfferApplied",
}
KINDS = {
    "all": "Everything",
    "changes": "Changes people made",
    "vendor": "The vendor's answers",
    "scheduled": "Scheduled",
}


def kind_of(event_type: str) -> str:
    if event_type in VENDOR:
        return "vendor"
    if event_type in SCHEDULED:
        return "scheduled"
    return "changes"


def _money(v: Any) -> str:
    return f"{fmt.money(v)} EUR" if v is not None else "—"


def _plain(v: Any) -> str:
    if v is None or v == "":
        return "none"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == "T":
        return fmt.when(v)
    return fmt.label(v) if isinstance(v, str) else str(v)


# The fields people read, with their label and how a value reads; a change of any other
# field shows in the raw events and in the comparison of two instants.
SHOWN: dict[str, tuple[str, Callable[[Any], str]]] = {
    "status": ("status", _plain),
    "quantity": ("licences", _plain),
    "renewal_quantity": ("licences at the renewal", _plain),
    "billing_cycle": ("billing cycle", _plain),
    "pending_billing_cycle": ("scheduled billing cycle", _plain),
    "renewal_term": ("term at the renewal", _plain),
    "term": ("term", _plain),
    "unit_customer_price": ("customer price per licence", _money),
    "auto_renew": ("automatic renewal", _plain),
    "ends_at": ("term end", _plain),
    "assigned": ("assigned licences", _plain),
    "last_vendor_refusal": ("vendor's refusal", _plain),
    "total": ("total per month", _money),
    "failure_reason": ("reason", _plain),
    "domain": ("domain", _plain),
    "rejection_reason": ("reason", _plain),
    "vendor_subscription_id": ("vendor subscription", _plain),
}


# What a new subscription, order or tenant is said to begin with.
FIRST = ("status", "quantity", "term", "billing_cycle", "unit_customer_price", "ends_at", "domain")


@dataclass
class Told:
    """One event as people read it."""

    version: int
    at: Any
    who: str
    type: str
    kind: str
    sentence: str
    changes: list[str] = field(default_factory=list)
    money: Decimal | None = None


def _line_count(state: Mapping[str, Any] | None) -> int:
    return len((state or {}).get("lines") or [])


def told(
    events: list[dict[str, Any]],
    states: list[dict[str, Any] | None],
    names: Mapping[str, str],
    money_at: Mapping[str, Decimal] | None = None,
) -> list[Told]:
    """The events (``audit.event_record``s) as sentences; ``states[i]`` is the state after
    event ``i`` (``audit.state_record``); ``money_at`` the ledger's charges per instant."""
    out: list[Told] = []
    before: Mapping[str, Any] | None = None
    # an instant's charges are told once, on its first event (a provisioning may record
    # several events at one instant: the subscription and its add-ons attached)
    unclaimed = dict(money_at or {})
    for e, after in zip(events, states, strict=True):
        kind = e["type"]
        who = fmt.actor(e["actor"], dict(names)) if e["actor"] else "CSP Platform"
        verb = VERBS.get(kind) or fmt.sentence(_words(kind)).lower()
        changes = []
        if before is None and after is not None:  # what it began with
            for key in FIRST:
                if after.get(key) not in (None, "", []):
                    label, show = SHOWN[key]
                    changes.append(f"{label} {show(after[key])}")
        for key, (label, show) in SHOWN.items():
            then = (before or {}).get(key)
            now = (after or {}).get(key)
            if before is not None and then != now:
                changes.append(f"{label} {show(then)} → {show(now)}")
        if kind in ("LineAdded", "LineRemoved"):
            changes.append(f"lines {_line_count(before)} → {_line_count(after)}")
        reason = e["data"].get("reason") or e["data"].get("message")
        text = f"{who} {verb}"
        if reason and kind in (
            "ProvisionFailed",
            "VendorChangeRefused",
            "AddonRefused",
            "Rejected",
            "AdoptedFromVendor",
            "CorrectedFromVendor",
        ):
            text += f": {reason}"
        money = unclaimed.pop(str(e["at"]), None)
        out.append(Told(e["version"], e["at"], who, kind, kind_of(kind), text + ".", changes, money))
        before = after
    return out


def _words(class_name: str) -> str:
    out = ""
    for ch in class_name:
        out += (" " + ch.lower()) if ch.isupper() and out else ch.lower()
    return out


def compare(then: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    """The fields whose value differs between two states: (field, then, now)."""
    keys = sorted(set(then or {}) | set(now or {}))
    rows = []
    for k in keys:
        if k in ("version",):
            continue
        a, b = (then or {}).get(k), (now or {}).get(k)
        if a != b:
            label = SHOWN[k][0] if k in SHOWN else k.replace("_", " ")
            rows.append((label, _render(a), _render(b)))
    return rows


def _render(v: Any) -> str:
    if isinstance(v, list | dict):
        import json

        return json.dumps(v, ensure_ascii=False)
    return _plain(v)


def parse_instant(raw: str, parse: Callable[[str], datetime | None]) -> datetime | None:
    return parse(raw) if raw else None
