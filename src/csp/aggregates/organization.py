"""Organizations: the reseller account (with its settings) and its customers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value
from csp.aggregates.catalog import Eligibility
from csp.aggregates.currency import check_currency
from csp.aggregates.errors import (
    InvalidInput,
    OrganizationError,
    SelfRegistrationDisabled,
    SelfServiceDisabled,
    TrialAlreadyUsed,
)
from csp.aggregates.pricing import DEFAULT_MARKUP_PERCENT
from csp.aggregates.tax import check_vat_number

OrganizationKind = Literal["reseller", "customer"]
Industry = Literal[
    "agriculture",
    "construction",
    "education",
    "finance",
    "government",
    "healthcare",
    "hospitality",
    "it_services",
    "manufacturing",
    "media",
    "nonprofit",
    "professional_services",
    "retail",
    "transportation",
    "utilities",
    "other",
]
INDUSTRIES: tuple[Industry, ...] = get_args(Industry)
SignInMethod = Literal["local", "microsoft_personal", "microsoft_work"]
SIGN_IN_METHODS: tuple[SignInMethod, ...] = get_args(SignInMethod)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,32}$")


def check_email(value: str, field: str = "contact_email") -> str:
    value = value.strip()
    if not _EMAIL.match(value) or len(value) > 254:
        raise InvalidInput(field, "is not a valid email address", value=value)
    return value.lower()


def parse_industry(value: str) -> Industry:
    if value not in INDUSTRIES:
        raise InvalidInput("industry", f"must be one of {', '.join(INDUSTRIES)}", value=value)
    return value


def parse_sign_in_method(value: str, field: str = "sign_in_method") -> SignInMethod:
    if value not in SIGN_IN_METHODS:
        raise InvalidInput(field, f"must be one of {', '.join(SIGN_IN_METHODS)}", value=value)
    return value


@dataclass(frozen=True)
class Address(Value):
    line1: str
    city: str
    postal_code: str
    line2: str = ""
    region: str = ""


@dataclass(frozen=True)
class ResellerSettings(Value):
    customer_self_registration: bool = False
    sign_in_methods: tuple[SignInMethod, ...] = ("local",)
    require_terms_acceptance: bool = False
    terms_text: str = ""
    default_markup_percent: Decimal = DEFAULT_MARKUP_PERCENT
    customer_self_service: bool = False  # customer users may order for themselves
    currency: str = "EUR"


@dataclass(frozen=True)
class OrganizationProfile(Value):
    """The editable data of an organization."""

    name: str
    country: str
    address: Address
    contact_email: str
    contact_phone: str
    industry: Industry
    eligibility: Eligibility
    # Billing details (customer invoices): a business customer's VAT number, checked by
    # format for its country; where invoices are emailed (else contact_email); currency.
    vat_number: str = ""
    billing_email: str = ""
    currency: str = "EUR"

    def checked(self, customer: bool = True) -> OrganizationProfile:
        """The profile, validated. A customer's is complete (address, contact phone); a
        reseller signing up may give those later."""
        name = self.name.strip()
        if not name or len(name) > 200:
            raise InvalidInput("name", "is required (at most 200 characters)")
        if not _COUNTRY.match(self.country):
            raise InvalidInput("country", "must be an ISO 3166 two-letter code, e.g. RO", value=self.country)
        for f in ("line1", "city", "postal_code"):
            if customer and not getattr(self.address, f).strip():
                raise InvalidInput(f"address.{f}", "is required")
        if customer and not self.contact_phone.strip():
            raise InvalidInput("contact_phone", "is required")
        if self.contact_phone and not _PHONE.match(self.contact_phone):
            raise InvalidInput("contact_phone", "is not a valid phone number", value=self.contact_phone)
        parse_industry(self.industry)
        if self.eligibility.academic and self.industry != "education":
            raise InvalidInput("eligibility.academic", "academic eligibility requires the education industry")
        if self.eligibility.government and self.industry != "government":
            raise InvalidInput("eligibility.government", "government eligibility requires the government industry")
        # "": the reseller's currency (a customer registered without one; see register_customer)
        currency = check_currency(self.currency) if self.currency.strip() else ""
        return self.replace(
            name=name,
            contact_email=check_email(self.contact_email),
            vat_number=check_vat_number(self.country, self.vat_number),
            billing_email=check_email(self.billing_email, "billing_email") if self.billing_email.strip() else "",
            currency=currency,
        )


def _with_currency(profile: OrganizationProfile, default: str) -> OrganizationProfile:
    return profile if profile.currency else profile.replace(currency=default)


class Organization(CspAggregate):
    credit_limit: Decimal | None = None  # a customer's monthly credit limit (organizations recorded before: none)

    class Registered(CspAggregate.Created):
        kind: OrganizationKind
        reseller_id: UUID | None
        slug: str | None
        profile: OrganizationProfile
        settings: ResellerSettings | None
        self_registered: bool

    @event(Registered)
    def __init__(
        self,
        kind: OrganizationKind,
        reseller_id: UUID | None,
        slug: str | None,
        profile: OrganizationProfile,
        settings: ResellerSettings | None,
        self_registered: bool,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.kind = kind
        self.reseller_id = reseller_id
        self.slug = slug
        self.profile = profile
        self.settings = settings
        self.self_registered = self_registered
        self.trial_offer_ids: tuple[UUID, ...] = ()
        self.registered_at = at

    @classmethod
    def register_reseller(
        cls, id: UUID, slug: str, profile: OrganizationProfile, actor: Actor, at: datetime
    ) -> Organization:
        if not _SLUG.match(slug):
            raise InvalidInput("slug", "must be lowercase letters, digits and hyphens", value=slug)
        return cls._create(
            cls.Registered,
            id=id,
            kind="reseller",
            reseller_id=None,
            slug=slug,
            profile=_with_currency(profile.checked(customer=False), "EUR"),
            settings=ResellerSettings(),
            self_registered=False,
            actor=actor,
            at=at,
        )

    @classmethod
    def register_customer(
        cls,
        id: UUID,
        reseller: Organization,
        profile: OrganizationProfile,
        actor: Actor,
        at: datetime,
        self_registered: bool = False,
    ) -> Organization:
        if reseller.kind != "reseller":
            raise OrganizationError("customers belong to a reseller account", reseller_id=reseller.id)
        if self_registered:
            reseller.check_self_registration_allowed()
        profile = profile.checked()
        # invoiced in the reseller's currency unless it has its own
        profile = _with_currency(profile, reseller.reseller_settings().currency)
        return cls._create(
            cls.Registered,
            id=id,
            kind="customer",
            reseller_id=reseller.id,
            slug=None,
            profile=profile,
            settings=None,
            self_registered=self_registered,
            actor=actor,
            at=at,
        )

    @property
    def owner_reseller_id(self) -> UUID:
        """The reseller account this organization belongs to (itself for a reseller)."""
        return self.reseller_id if self.reseller_id is not None else self.id

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def eligibility(self) -> Eligibility:
        return self.profile.eligibility

    def reseller_settings(self) -> ResellerSettings:
        if self.settings is None:
            raise OrganizationError("only a reseller account has settings", organization_id=self.id)
        return self.settings

    def check_self_registration_allowed(self) -> None:
        if not self.reseller_settings().customer_self_registration:
            raise SelfRegistrationDisabled(
                "this reseller does not let customers register themselves", reseller_id=self.id
            )

    def check_self_service_allowed(self) -> None:
        """Customer users order for themselves only when the reseller allows it."""
        if not self.reseller_settings().customer_self_service:
            raise SelfServiceDisabled("this reseller does not let customers order for themselves", reseller_id=self.id)

    class ProfileChanged(CspAggregate.Event):
        profile: OrganizationProfile
        changed_fields: tuple[str, ...]

    def change_profile(self, actor: Actor, at: datetime, **changes: Any) -> None:
        unknown = set(changes) - set(OrganizationProfile.__dataclass_fields__)
        if unknown:
            raise InvalidInput(sorted(unknown)[0], "is not a field of an organization")
        profile = self.profile.replace(**changes).checked(customer=self.kind == "customer")
        changed = tuple(
            f for f in OrganizationProfile.__dataclass_fields__ if getattr(profile, f) != getattr(self.profile, f)
        )
        if not changed:
            return
        if self.kind == "reseller" and profile.eligibility != Eligibility():
            raise InvalidInput("eligibility", "a reseller account has no eligibility flags")
        self._change_profile(profile=profile, changed_fields=changed, actor=actor, at=at)

    @event(ProfileChanged)
    def _change_profile(
        self, profile: OrganizationProfile, changed_fields: tuple[str, ...], actor: Actor, at: datetime
    ) -> None:
        self.profile = profile

    class SettingsChanged(CspAggregate.Event):
        settings: ResellerSettings
        changed_fields: tuple[str, ...]

    def change_settings(
        self,
        settings: ResellerSettings,
        actor: Actor,
        at: datetime,
        offered_methods: tuple[SignInMethod, ...] = SIGN_IN_METHODS,
    ) -> None:
        """``offered_methods``: the sign-in methods the platform is set up for; a method
        it does not offer cannot be newly allowed (one allowed already stays)."""
        current = self.reseller_settings()
        if not settings.sign_in_methods:
            raise InvalidInput("sign_in_methods", "at least one sign-in method is required")
        for m in settings.sign_in_methods:
            parse_sign_in_method(m, "sign_in_methods")
            if m not in offered_methods and m not in current.sign_in_methods:
                raise InvalidInput(
                    "sign_in_methods",
                    f"{m} is not set up on this platform (the operator configures its identity provider)",
                    value=m,
                )
        if "local" not in settings.sign_in_methods:
            # The primary contact always signs in with a local account.
            raise InvalidInput("sign_in_methods", "the local method cannot be removed: the primary contact uses it")
        if settings.default_markup_percent < -100 or settings.default_markup_percent > 1000:
            raise InvalidInput("default_markup_percent", "must be between -100 and 1000")
        if settings.require_terms_acceptance and not settings.terms_text.strip():
            raise InvalidInput("terms_text", "is required when new users must accept terms")
        settings = settings.replace(
            sign_in_methods=tuple(dict.fromkeys(settings.sign_in_methods)), currency=check_currency(settings.currency)
        )
        changed = tuple(f for f in ResellerSettings.__dataclass_fields__ if getattr(settings, f) != getattr(current, f))
        if changed:
            self._change_settings(settings=settings, changed_fields=changed, actor=actor, at=at)

    @event(SettingsChanged)
    def _change_settings(
        self, settings: ResellerSettings, changed_fields: tuple[str, ...], actor: Actor, at: datetime
    ) -> None:
        self.settings = settings

    class CreditLimitSet(CspAggregate.Event):
        monthly_limit: Decimal | None  # None: no limit any more

    def set_credit_limit(self, monthly_limit: Decimal | None, actor: Actor, at: datetime) -> None:
        """A customer's monthly credit limit (``csp.aggregates.credit``); None clears it."""
        if self.kind != "customer":
            raise InvalidInput(
                "monthly_limit",
                "only a customer organization has a credit limit; the reseller's own orders are not limited",
            )
        if monthly_limit is not None and monthly_limit < 0:
            raise InvalidInput("monthly_limit", "must not be negative", value=str(monthly_limit))
        if monthly_limit != self.credit_limit:
            self._set_credit_limit(monthly_limit=monthly_limit, actor=actor, at=at)

    @event(CreditLimitSet)
    def _set_credit_limit(self, monthly_limit: Decimal | None, actor: Actor, at: datetime) -> None:
        self.credit_limit = monthly_limit

    class TrialStarted(CspAggregate.Event):
        offer_id: UUID

    def check_trial_available(self, offer_id: UUID) -> None:
        if offer_id in self.trial_offer_ids:
            raise TrialAlreadyUsed("one trial per offer per customer: this trial was already used", offer_id=offer_id)

    def start_trial(self, offer_id: UUID, actor: Actor, at: datetime) -> None:
        self.check_trial_available(offer_id)
        self._start_trial(offer_id=offer_id, actor=actor, at=at)

    @event(TrialStarted)
    def _start_trial(self, offer_id: UUID, actor: Actor, at: datetime) -> None:
        self.trial_offer_ids = (*self.trial_offer_ids, offer_id)
