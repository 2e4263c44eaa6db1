"""The domain's named errors: one class per rule, grouped by what the caller did wrong.

The API maps the four families to status codes in one place:
``NotFound`` → 404, ``Forbidden`` → 403, ``Conflict`` → 409, ``InvalidInput`` → 422.
Each error carries a stable snake_case ``code`` and ``details`` for the client.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar


class CspError(Exception):
    code: ClassVar[str] = "csp_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: _jsonable(v) for k, v in details.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()  # ISO 8601, as every time the API writes
    return str(value)


# --- families --------------------------------------------------------------


class NotFound(CspError):
    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} not found", kind=kind, id=ident)


class Forbidden(CspError):
    code = "forbidden"


class Conflict(CspError):
    code = "conflict"


class InvalidInput(CspError):
    """Bad input for a field: says which field and why."""

    code = "invalid_input"

    def __init__(self, field: str, reason: str, **details: Any) -> None:
        super().__init__(f"{field}: {reason}", field=field, reason=reason, **details)
        self.field = field
        self.reason = reason


# --- conflicts of state -----------------------------------------------------


class ConcurrentModification(Conflict):
    code = "version_conflict"

    def __init__(self, ident: object, expected: int | None = None, actual: int | None = None) -> None:
        super().__init__(
            "the resource was changed by someone else; reload and retry",
            id=ident,
            expected_version=expected,
            actual_version=actual,
        )


class AlreadyExists(Conflict):
    code = "already_exists"


class OrderError(Conflict):
    code = "order_error"


class OrderNotDraft(OrderError):
    code = "order_not_draft"


class TermsNotAccepted(OrderError):
    code = "terms_not_accepted"


class EmptyOrder(OrderError):
    code = "empty_order"


class InvalidOrderTransition(OrderError):
    code = "invalid_order_transition"


class TenantNotReady(Conflict):
    code = "tenant_not_ready"


class TenantError(Conflict):
    code = "tenant_error"


class InvalidTenantTransition(TenantError):
    code = "invalid_tenant_transition"


class OfferNotAvailable(Conflict):
    """The buyer is not eligible for the offer, or it is hidden from them."""

    code = "offer_not_available"


class TrialAlreadyUsed(Conflict):
    code = "trial_already_used"


class AddonRequiresBase(Conflict):
    code = "addon_requires_base"


class SubscriptionError(Conflict):
    code = "subscription_error"


class SubscriptionNotActive(SubscriptionError):
    code = "subscription_not_active"


class SubscriptionSuspended(SubscriptionError):
    code = "subscription_suspended"


class OutsideCancellationWindow(SubscriptionError):
    code = "outside_cancellation_window"


class TrialQuantityFixed(SubscriptionError):
    code = "trial_quantity_fixed"


class NotATrial(SubscriptionError):
    code = "not_a_trial"


class TermCannotShrink(SubscriptionError):
    code = "term_cannot_shrink"


class TransitionNotAllowed(SubscriptionError):
    """A mid-term move to another offer the rules refuse: not an upgrade of it (a downgrade
    waits for the renewal), a trial, a suspended or ended subscription, an add-on the new
    offer does not take; ``details["reason"]`` names which."""

    code = "transition_not_allowed"


class NotDue(SubscriptionError):
    code = "not_due"


class InvalidSubscriptionTransition(SubscriptionError):
    code = "invalid_subscription_transition"


# --- licence assignment (a tenant's users and a subscription's seats) ---------------


class NoFreeLicence(SubscriptionError):
    """Every purchased seat is assigned or about to be: buy more, or unassign one first."""

    code = "no_free_licence"


class LicencesAssigned(SubscriptionError):
    """An immediate reduction below the licences assigned to users: unassign them first."""

    code = "licences_assigned"


class OrganizationError(Conflict):
    code = "organization_error"


# --- accounts, users, catalog customisation, quotes -----------------------------


class UserError(Conflict):
    code = "user_error"


class EmailTaken(Conflict):
    code = "email_taken"


class InvitationInvalid(Conflict):
    code = "invitation_invalid"


class InvitationExpired(Conflict):
    code = "invitation_expired"


class PasswordResetInvalid(Conflict):
    """A reset link that was used, or replaced by a newer one, or whose user may no
    longer reset a password."""

    code = "reset_link_invalid"


class PasswordResetExpired(Conflict):
    code = "reset_link_expired"


class RoleNotAssignable(Forbidden):
    code = "role_not_assignable"


class SelfRegistrationDisabled(Forbidden):
    code = "self_registration_disabled"


class SelfServiceDisabled(Forbidden):
    code = "self_service_disabled"


class NoLocalPassword(UserError):
    code = "no_local_password"


# --- signing in with an outside identity provider (Microsoft) -------------------


class SignInRefused(Forbidden):
    """A sign-in through an outside identity provider was refused by the platform."""

    code = "sign_in_refused"


class SignInMethodNotAllowed(SignInRefused):
    code = "sign_in_method_not_allowed"


class WrongSignInMethod(SignInRefused):
    code = "wrong_sign_in_method"


class WrongAccount(SignInRefused):
    code = "wrong_account"


class InvitationNotAccepted(SignInRefused):
    code = "invitation_not_accepted"


class UserDisabled(SignInRefused):
    code = "user_disabled"


class SegmentError(Conflict):
    code = "segment_error"


class QuoteError(Conflict):
    code = "quote_error"


class QuoteExpired(QuoteError):
    code = "quote_expired"


class QuoteNotOpen(QuoteError):
    code = "quote_not_open"


# --- GDAP relationships and the customer agreement (issue 16, items 3 and 5) ---


class GdapError(Conflict):
    code = "gdap_error"


class InvalidGdapTransition(GdapError):
    code = "invalid_gdap_transition"


class GdapNotActive(GdapError):
    code = "gdap_not_active"


class GdapApprovalExpired(GdapError):
    """The customer did not approve within 90 days: the request expired and cannot be approved."""

    code = "gdap_approval_expired"


class AgreementMissing(Conflict):
    """A customer orders only once its Microsoft Customer Agreement acceptance is recorded."""

    code = "agreement_missing"
