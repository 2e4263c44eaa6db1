"""Aggregates as API answers, with the contract's field names and who-sees-what prices:
a customer user never sees a partner price or a margin."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from csp.aggregates.catalog import Catalog, Category, Offer
from csp.aggregates.currency import BASE_CURRENCY, AppliedRate
from csp.aggregates.customization import CustomerSegment
from csp.aggregates.order import ApprovalRequest, NewSubscriptionLine, Order, OrderLine
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import money
from csp.aggregates.quote import Quote
from csp.aggregates.subscription import Subscription, is_billed
from csp.aggregates.tenant import Tenant
from csp.aggregates.user import ApiToken, User
from csp.api import schemas as s
from csp.api.auth import Caller


class PriceView(Enum):
    VISITOR = "visitor"  # ERP only
    RESELLER = "reseller"  # ERP and partner price
    CUSTOMER = "customer"  # ERP and the customer's own price


def view_of(caller: Caller | None) -> PriceView:
    if caller is None:
        return PriceView.VISITOR
    return PriceView.CUSTOMER if caller.is_customer else PriceView.RESELLER


def user_public(u: User) -> s.UserPublic:
    return s.UserPublic(
        id=u.id,
        email=u.email,
        role=u.role,
        organization_id=u.organization_id,
        reseller_id=u.reseller_id,
        status=u.status,
        first_name=u.first_name,
        last_name=u.last_name,
        sign_in_method=u.sign_in_method,
        identity_linked=u.identity is not None,
        primary_contact=u.primary_contact,
        created_at=u.created_at,
        activated_at=u.activated_at,
        terms_accepted_at=u.terms_accepted_at,
        invitation_expires_at=u.invitation_expires_at,
        version=u.version,
    )


def tokens_public(tokens: Sequence[ApiToken], now: datetime, limit: int, offset: int) -> s.TokensPublic:
    rows = [
        s.TokenRow(
            id=t.id,
            name=t.name,
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            status=t.status(now),
        )
        for t in tokens
    ]
    return s.TokensPublic(items=rows[offset : offset + limit], total=len(rows))


def settings_public(org: Organization, available: Sequence[str] = ("local",)) -> s.SettingsPublic:
    st = org.reseller_settings()
    return s.SettingsPublic(
        customer_self_registration=st.customer_self_registration,
        sign_in_methods=list(st.sign_in_methods),
        require_terms_acceptance=st.require_terms_acceptance,
        terms_text=st.terms_text,
        default_markup_percent=st.default_markup_percent,
        customer_self_service=st.customer_self_service,
        currency=st.currency,
        version=org.version,
        available_sign_in_methods=list(available),  # type: ignore[arg-type]
    )


def organization_public(org: Organization) -> s.OrganizationPublic:
    p = org.profile
    return s.OrganizationPublic(
        id=org.id,
        kind=org.kind,
        name=p.name,
        slug=org.slug,
        country=p.country,
        address=s.AddressPublic(
            line1=p.address.line1,
            line2=p.address.line2,
            city=p.address.city,
            postal_code=p.address.postal_code,
            region=p.address.region,
        ),
        contact_email=p.contact_email,
        contact_phone=p.contact_phone,
        industry=p.industry,
        eligibility=s.EligibilityModel(
            academic=p.eligibility.academic, government=p.eligibility.government, nonprofit=p.eligibility.nonprofit
        ),
        reseller_id=org.owner_reseller_id,
        self_registered=org.self_registered,
        created_at=org.registered_at,
        version=org.version,
        vat_number=p.vat_number,
        billing_email=p.billing_email,
        currency=p.currency,
        credit_limit=org.credit_limit,
    )


def tenant_public(t: Tenant) -> s.TenantPublic:
    return s.TenantPublic(
        id=t.id,
        organization_id=t.organization_id,
        domain=t.domain,
        mode=t.mode,
        status=t.status,
        vendor_customer_id=t.vendor_customer_id,
        admin_username=t.admin_username,
        rejection_reason=t.rejection_reason,
        rejection_code=t.rejection_code,
        requested_at=t.requested_at,
        ready_at=t.ready_at,
        version=t.version,
    )


def category_public(c: Category) -> s.CategoryPublic:
    return s.CategoryPublic(
        id=c.id,
        slug=c.slug,
        name=c.name,
        product_groups=[s.ProductGroupPublic(id=g.id, slug=g.slug, name=g.name) for g in c.product_groups],
    )


def offer_public(
    offer: Offer,
    catalog: Catalog,
    now: datetime,
    view: PriceView,
    customer_price: Decimal | None = None,
    visible: bool | None = None,
    rate: AppliedRate | None = None,
) -> s.OfferPublic:
    """An offer with the prices the view may see: in EUR, or (``rate``) each unit price
    converted to the rate's currency, rounded half-up to its minor unit."""
    price = offer.price_at(now)
    erp, partner = price.erp_price, price.partner_price
    if rate is not None and offer.currency == BASE_CURRENCY:
        erp, partner = rate.convert_or_none(erp), rate.convert(partner)
        customer_price = rate.convert_or_none(customer_price)
    return s.OfferPublic(
        id=offer.id,
        name=offer.name,
        description=offer.description,
        vendor=offer.vendor,
        category=offer.category_id,
        category_name=catalog.category_of(offer).name,
        product_group=offer.product_group_id,
        product_group_name=catalog.product_group_of(offer).name,
        segment=offer.segment,
        type=offer.type,
        billing_cycles=list(offer.billing_cycles),
        terms=list(offer.terms),
        is_trial=offer.is_trial,
        trial_converts_to=offer.trial_converts_to,
        is_addon=offer.is_addon,
        addon_offer_ids=list(offer.addon_offer_ids),
        upgrade_offer_ids=list(offer.upgrade_offer_ids),
        min_quantity=offer.min_quantity,
        max_quantity=offer.max_quantity,
        unit=offer.unit,
        currency=rate.currency if rate is not None and offer.currency == BASE_CURRENCY else offer.currency,
        erp_price=erp,
        partner_price=partner if view is PriceView.RESELLER else None,
        customer_price=customer_price if view is PriceView.CUSTOMER else None,
        visible=visible if view is PriceView.RESELLER else None,
        exchange_rate=rate.rate if rate is not None else None,
        exchange_rate_month=rate.month if rate is not None else None,
    )


def segment_public(seg: CustomerSegment) -> s.SegmentPublic:
    return s.SegmentPublic(
        id=seg.id,
        name=seg.name,
        offer_ids=list(seg.offer_ids),
        organization_ids=list(seg.organization_ids),
        prices=[
            s.SegmentPricePublic(offer_id=p.offer_id, markup_percent=p.markup_percent, customer_price=p.customer_price)
            for p in seg.prices
        ],
        version=seg.version,
    )


def line_public(order: Order, line: OrderLine, caller: Caller) -> s.OrderLinePublic:
    hide = caller.is_customer
    provisioned = line.line_no in order.provisioned_line_nos
    if isinstance(line, NewSubscriptionLine):
        return s.OrderLinePublic(
            line_no=line.line_no,
            kind="new_subscription",
            offer_id=line.offer_id,
            offer_name=line.offer_name,
            tenant_id=line.tenant_id,
            tenant_domain=line.tenant_domain,
            quantity=line.quantity,
            quantity_delta=None,
            billing_cycle=line.billing_cycle,
            term=line.term,
            is_trial=line.is_trial,
            unit_partner_price=None if hide else line.unit_partner_price,
            erp_price=line.erp_price,
            unit_customer_price=line.unit_customer_price,
            markup_percent=None if hide else line.markup_percent,
            margin=None if hide else line.margin,
            requested_change=line.requested_change,
            total=line.total,
            addons=[
                s.AddonChoicePublic(
                    offer_id=a.offer_id,
                    offer_name=a.offer_name,
                    quantity=a.quantity,
                    unit_partner_price=None if hide else a.unit_partner_price,
                    erp_price=a.erp_price,
                    unit_customer_price=a.unit_customer_price,
                    total=a.total,
                    margin=None if hide else a.unit_customer_price - a.unit_partner_price,
                )
                for a in line.addons
            ],
            subscription_id=None,
            parent_subscription_id=line.parent_subscription_id,
            parent_line_no=line.parent_line_no,
            provisioned=provisioned,
            outcome=order.line_outcome(line.line_no),
            failure_reason=order.line_failure(line.line_no),
        )
    return s.OrderLinePublic(
        line_no=line.line_no,
        kind="change",
        offer_id=line.offer_id,
        offer_name=line.offer_name,
        tenant_id=line.tenant_id,
        tenant_domain=line.tenant_domain,
        quantity=None,
        quantity_delta=line.quantity_delta,
        billing_cycle=None,
        term=None,
        is_trial=False,
        unit_partner_price=None if hide else line.unit_partner_price,
        erp_price=None,
        unit_customer_price=line.unit_customer_price,
        markup_percent=None,
        margin=None if hide else money(line.unit_customer_price - line.unit_partner_price),
        requested_change=line.requested_change,
        total=line.total,
        addons=[],
        subscription_id=line.subscription_id,
        parent_subscription_id=None,
        parent_line_no=None,
        provisioned=provisioned,
        outcome=order.line_outcome(line.line_no),
        failure_reason=order.line_failure(line.line_no),
    )


def order_public(order: Order, caller: Caller) -> s.OrderPublic:
    return s.OrderPublic(
        id=order.id,
        number=order.number,
        organization_id=order.organization_id,
        reseller_id=order.reseller_id,
        status=order.status,
        lines=[line_public(order, x, caller) for x in order.lines],
        item_count=len(order.lines),
        total=order.total,
        partner_total=None if caller.is_customer else order.partner_total,
        created_by=order.created_by,
        created_at=order.created_at,
        placed_at=order.placed_at,
        terms_accepted_at=order.terms_accepted_at,
        finished_at=order.finished_at,
        failure_reason=order.failure_reason,
        subscription_ids=list(order.subscription_ids),
        version=order.version,
        outcome=order.outcome,
        attempt=order.attempt,
        approval=_order_approval(order.approval) if order.approval is not None else None,
    )


def _order_approval(a: ApprovalRequest) -> s.OrderApprovalPublic:
    return s.OrderApprovalPublic(
        id=a.id,
        status=a.status,
        amount=a.amount,
        limit=a.monthly_limit,
        requested_by=a.requested_by,
        requested_at=a.requested_at,
        decided_by=a.decided_by,
        decided_at=a.decided_at,
        reason=a.reason,
    )


def approval_public(row: dict[str, Any]) -> s.ApprovalPublic:
    """An approvals read-model row (``csp.projections.approvals_list``) as the API shows it."""
    return s.ApprovalPublic(
        **{k: v for k, v in row.items() if k not in ("monthly_limit", "reseller_id")}, limit=row["monthly_limit"]
    )


def line_created(order: Order, line_no: int, caller: Caller) -> s.OrderLineCreated:
    line = line_public(order, order.line(line_no), caller)
    return s.OrderLineCreated(**line.model_dump(), order_id=order.id, order_total=order.total, version=order.version)


def subscription_public(
    sub: Subscription, addons: list[Subscription], caller: Caller, now: datetime
) -> s.SubscriptionPublic:
    trial = sub.status == "trial" or sub.is_trial
    unit = None if trial else sub.unit_customer_price
    partner = None if trial or caller.is_customer else sub.unit_partner_price
    q = sub.quantity
    billed = q if is_billed(sub.status) else 0  # an ended one costs nothing any more
    unused = sub.unused_in_window(now)

    def monthly(price: Decimal | None) -> Decimal | None:
        if price is None:
            return None
        return money(price * billed) if sub.billing_cycle == "monthly" else money(0)

    def yearly(price: Decimal | None) -> Decimal | None:
        if price is None:
            return None
        return money(price * billed * 12) if sub.billing_cycle == "yearly" else money(0)

    return s.SubscriptionPublic(
        id=sub.id,
        organization_id=sub.organization_id,
        offer_id=sub.offer_id,
        offer_name=sub.offer_name,
        product_group=sub.product_group_id,
        tenant_id=sub.tenant_id,
        tenant_domain=sub.tenant_domain,
        status=sub.status,
        starts_at=sub.starts_at,
        ends_at=sub.ends_at,
        renews_at=sub.renews_at,
        auto_renew=sub.auto_renew,
        billing_cycle=sub.billing_cycle,
        pending_billing_cycle=sub.pending_billing_cycle,
        pending_billing_cycle_at=sub.pending_billing_cycle_at,
        term=sub.term,
        renewal_term=sub.renewal_term,
        renewal_quantity=sub.renewal_quantity,
        assigned=sub.assigned,
        purchased=q,
        refundable=sub.refundable_quantity(now) if sub.status in ("active", "suspended") else 0,
        addons=[
            s.AddonSummary(id=a.id, offer_id=a.offer_id, offer_name=a.offer_name, quantity=a.quantity, status=a.status)
            for a in addons
        ],
        parent_id=sub.parent_id,
        vendor=sub.vendor,
        type=sub.type,
        is_trial=sub.is_trial,
        trial_converts_to=sub.trial_converts_to,
        unit_cost=unit,
        monthly_cost=monthly(unit),
        yearly_cost=yearly(unit),
        monthly_reseller_price=monthly(partner),
        yearly_reseller_price=yearly(partner),
        unit_partner_price=partner,
        markup_percent=None if trial or caller.is_customer else sub.markup_percent,
        order_id=sub.order_id,
        last_vendor_refusal=sub.last_vendor_refusal,
        version=sub.version,
        unassigned=sub.unassigned,
        unused_in_window=unused.count,
        unused_in_window_until=unused.until,
        licence_requests=[
            s.LicenceRequestPublic(tenant_user_id=r.tenant_user_id, action=r.action) for r in sub.licence_requests
        ],
        transitioned_from=sub.transitioned_from,
        transitioned_to=sub.transitioned_to,
        pending_transition=s.PendingTransition(**vars(sub.pending_transition)) if sub.pending_transition else None,
        renewal_offer_id=sub.renewal_offer_id,
        renewal_offer_name=sub.renewal_offer_name,
    )


def quote_public(q: Quote, caller: Caller, now: datetime) -> s.QuotePublic:
    hide = caller.is_customer
    return s.QuotePublic(
        id=q.id,
        organization_id=q.organization_id,
        status=q.status_at(now),
        lines=[
            s.QuoteLinePublic(
                line_no=x.line_no,
                offer_id=x.offer_id,
                offer_name=x.offer_name,
                quantity=x.quantity,
                billing_cycle=x.billing_cycle,
                term=x.term,
                tenant_id=x.tenant_id,
                unit_partner_price=None if hide else x.unit_partner_price,
                erp_price=x.erp_price,
                unit_customer_price=x.unit_customer_price,
                markup_percent=None if hide else x.markup_percent,
                margin=None if hide else x.margin,
                total=x.total,
            )
            for x in q.lines
        ],
        total=q.total,
        valid_until=q.valid_until,
        note=q.note,
        created_by=q.created_by,
        created_at=q.created_at,
        order_id=q.order_id,
        version=q.version,
    )
