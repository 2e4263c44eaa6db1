"""Public pages: the catalog (the distributor's and each reseller's, by slug), offer
detail, Log in / Log out, reseller sign-up, invitation acceptance, customer
self-registration."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from csp.aggregates.catalog import Eligibility
from csp.aggregates.errors import CspError, NotFound, TermsNotAccepted
from csp.aggregates.organization import INDUSTRIES, Address, Organization, OrganizationProfile
from csp.api.errors import TooManyAttempts, Unauthorized
from csp.api.pages.web import CART_COOKIE, FORM_COOKIE, ORG_COOKIE, Page, page_for, safe_next
from csp.api.queries import OfferFilter, catalog_offer, catalog_offers
from csp.api.signups import SignUps
from csp.application.accounts import NewLogin

router = APIRouter()


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for ``/favicon.ico`` on their own: the portal's icon."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


PageDep = Annotated[Page, Depends(page_for)]
MICROSOFT_METHODS = ("microsoft_personal", "microsoft_work")


def home_of(page: Page) -> str:
    """Where a visitor starts (the public catalog) and a signed-in user (its home page)."""
    return "/catalog" if page.caller is None else "/home"


@router.get("/")
def home(page: PageDep) -> Response:
    return RedirectResponse(home_of(page) if page.caller else "/catalog", status_code=303)


# --- the catalog ------------------------------------------------------------------------


def catalog_page(
    page: Page,
    base: str,
    *,
    slug: str | None = None,
    organization_id: UUID | None = None,
    title: str = "Product catalog",
) -> Response:
    """Categories on the left; the chosen category's product groups and their offers."""
    category = page.request.query_params.get("category") or None
    group = page.request.query_params.get("group") or None
    q = (page.request.query_params.get("q") or "").strip()[:100] or None
    catalog = page.app.catalog()
    offers = catalog_offers(
        page.app,
        page.caller,
        OfferFilter(category, group, None, q),
        reseller_slug=slug,
        organization_id=organization_id,
    )
    groups: dict[str, dict[str, Any]] = {}
    for o in offers:
        if o.is_addon and not (category or group or q):
            continue
        g = groups.setdefault(
            str(o.product_group), {"name": o.product_group_name, "category": o.category_name, "offers": []}
        )
        g["offers"].append(o)
    can_buy = organization_id is not None and page.may("orders.write")
    return page.render(
        "catalog.html",
        title=title,
        base=base,
        categories=catalog.categories,
        category=category,
        group=group,
        q=q or "",
        groups=list(groups.values()),
        count=len(offers),
        can_buy=can_buy,
        portal_slug=slug,
        organization_id=organization_id,
    )


@router.get("/catalog")
def catalog(page: PageDep) -> Response:
    """The distributor's catalog: every offer with its ERP; partner prices once signed in."""
    return catalog_page(page, "/catalog")


@router.get("/catalog/offers/{offer_id}")
def offer(offer_id: UUID, page: PageDep) -> Response:
    return offer_page(page, offer_id, "/catalog")


def offer_page(
    page: Page, offer_id: UUID, base: str, slug: str | None = None, organization_id: UUID | None = None
) -> Response:
    found = catalog_offer(page.app, page.caller, offer_id, reseller_slug=slug)
    catalog = page.app.catalog()
    addons = [catalog.offer(a) for a in found.addon_offer_ids]
    return page.render(
        "offer.html",
        title=found.name,
        offer=found,
        addons=addons,
        base=base,
        portal_slug=slug,
        organization_id=organization_id,
        can_buy=organization_id is not None and page.may("orders.write") and not found.is_addon,
    )


@router.get("/portal/{slug}")
def reseller_catalog(slug: str, page: PageDep) -> Response:
    """A reseller's own portal address: the catalog as it shows it to its customers."""
    reseller = page.app.reseller_by_slug(slug)
    return catalog_page(page, f"/portal/{slug}", slug=slug, title=f"{reseller.name} · Product catalog")


@router.get("/portal/{slug}/offers/{offer_id}")
def reseller_offer(slug: str, offer_id: UUID, page: PageDep) -> Response:
    page.app.reseller_by_slug(slug)
    return offer_page(page, offer_id, f"/portal/{slug}", slug=slug)


# --- signing in and out -------------------------------------------------------------------


def sign_in_methods(page: Page, slug: str | None) -> tuple[list[str], Organization | None]:
    """The methods the account allows (a reseller's portal), or, on the platform's own
    log-in page, every method the platform is set up for (the user picks the one set for
    it; the sign-in checks it); the local form always."""
    everything = ["local", *(m for m in page.auth.offered_methods() if m != "local")]
    if not slug:
        return everything, None
    try:
        reseller = page.app.reseller_by_slug(slug)
    except CspError:
        return everything, None
    methods = list(reseller.reseller_settings().sign_in_methods)
    if "local" not in methods:
        methods.insert(0, "local")
    return methods, reseller


def _login_form(page: Page, status_code: int = 200) -> Response:
    slug = page.request.query_params.get("portal") or page.value("portal") or None
    nxt = safe_next(page.request.query_params.get("next") or page.value("next"), "")
    methods, reseller = sign_in_methods(page, slug)
    from urllib.parse import quote

    back = quote(nxt or "/", safe="/")
    offered = page.auth.offered_methods()
    buttons = [
        (m, f"/api/v1/auth/oidc/{m}/start?next={back}") for m in methods if m in MICROSOFT_METHODS and m in offered
    ]
    error = page.request.query_params.get("error")
    if error and "_form" not in page.errors:
        from csp.api.oidc import SIGN_IN_ERRORS

        page.errors["_form"] = SIGN_IN_ERRORS.get(error, "The sign-in did not go through; please try again.")
    return page.render(
        "login.html",
        status_code=status_code,
        title="Log in",
        next=nxt,
        portal_slug=slug,
        reseller=reseller,
        buttons=buttons,
        email=page.value("email"),
    )


@router.get("/login")
def login_form(page: PageDep) -> Response:
    return _login_form(page)


@router.post("/login")
def login(page: PageDep) -> Response:
    email = page.required("email", "enter your email address")
    password = page.required("password", "enter your password")
    if page.errors:
        return _login_form(page, 422)
    address = page.request.client.host if page.request.client else "unknown"
    try:
        user = page.auth.local.authenticate(email, password, address)
    except Unauthorized:
        page.errors["_form"] = "Wrong email or password."
        return _login_form(page, 401)
    except TooManyAttempts as e:
        page.errors["_form"] = (
            f"Too many failed sign-ins; try again in {e.details.get('retry_after_seconds', 60)} seconds."
        )
        return _login_form(page, 429)
    from csp.api.auth import Caller

    page.caller = Caller.of(user, "session")
    nxt = safe_next(page.value("next"), "") or home_of(page)
    page.cookies[FORM_COOKIE] = None
    if user.role in ("customer_admin", "customer_user"):
        page.cookies[ORG_COOKIE] = None
    response = page.redirect(nxt)
    page.auth.start_session(user, page.request, response)
    return response


@router.post("/logout")
def logout(page: PageDep) -> Response:
    response = page.redirect("/catalog", "You are logged out.")
    page.auth.end_session(page.request, response)
    for name in (ORG_COOKIE, CART_COOKIE):
        response.delete_cookie(name, path="/")
    return response


# --- sign-up, invitations, self-registration --------------------------------------------------


@router.get("/signup")
def signup_form(page: PageDep) -> Response:
    return page.render("signup.html", title="Register a reseller account")


@router.post("/signup")
def signup(page: PageDep) -> Response:
    company = page.required("company_name")
    country = page.required("country").upper()
    first = page.required("first_name")
    last = page.required("last_name")
    email = page.required("email")
    password = page.required("password")
    if page.errors:
        return page.render("signup.html", status_code=422, title="Register a reseller account")
    try:
        registration = _signups(page).register(
            "signup",
            email,
            _client(page),
            f"the reseller account {company}",
            lambda: page.app.start_reseller_sign_up(company, country, NewLogin(email, password, first, last)),
        )
    except TooManyAttempts as e:
        page.errors["_form"] = f"Too many sign-ups; try again in {e.details.get('retry_after_seconds', 60)} seconds."
        return page.render("signup.html", status_code=429, title="Register a reseller account")
    except CspError as e:
        page.fail(e, {"primary_contact.email": "email", "slug": "company_name"})
        return page.render("signup.html", status_code=422, title="Register a reseller account")
    return _check_your_email(page, registration.user.email, registration.token)


def _signups(page: Page) -> SignUps:
    return page.request.app.state.signups  # type: ignore[no-any-return]


def _client(page: Page) -> str:
    return page.request.client.host if page.request.client else "unknown"


def _check_your_email(page: Page, email: str, token: str) -> Response:
    """After a sign-up (or self-registration): the same page whoever owns the address."""
    link = f"/confirm-email/{token}" if page.settings.test_mode else None
    return page.render("check_email.html", title="Check your email", email=email, confirm_link=link)


@router.get("/confirm-email/{token}")
def confirm_email_form(token: str, page: PageDep) -> Response:
    """The emailed link opens a page whose button confirms (a link checker's GET changes nothing)."""
    return page.render("confirm_email.html", title="Confirm your email", token=token)


@router.post("/confirm-email/{token}")
def confirm_email(token: str, page: PageDep) -> Response:
    try:
        user = _signups(page).confirm(token)
    except CspError as e:
        if isinstance(e, NotFound):
            raise
        page.fail(e)
        return page.render("confirm_email.html", status_code=409, title="Confirm your email", token=None)
    portal = ""
    if user.is_customer_user:
        reseller = page.app.load(Organization, user.reseller_id, "organization")
        portal = f"portal={reseller.slug}&"
    return page.redirect(f"/login?{portal}next=/", "Your email is confirmed: log in.")


@router.get("/invitations/{token}")
def invitation_form(token: str, page: PageDep) -> Response:
    user = page.app.user_by_invitation(token)
    return _invitation(page, token, user)


def _invitation(page: Page, token: str, user: Any, status_code: int = 200) -> Response:
    org = page.app.load(Organization, user.organization_id, "organization")
    reseller = page.app.load(Organization, user.reseller_id, "organization")
    settings = reseller.reseller_settings()
    return page.render(
        "invitation.html",
        status_code=status_code,
        title="Accept your invitation",
        token=token,
        invited=user,
        organization=org,
        settings=settings,
        first_name=page.value("first_name"),
        last_name=page.value("last_name"),
    )


@router.post("/invitations/{token}")
def accept_invitation(token: str, page: PageDep) -> Response:
    user = page.app.user_by_invitation(token)
    first = page.required("first_name")
    last = page.required("last_name")
    password = page.value("password") or None
    if user.sign_in_method == "local" and not password:
        page.errors["password"] = "choose a password of at least 12 characters"
    if page.errors:
        return _invitation(page, token, user, 422)
    try:
        accepted = page.commands.run(
            lambda: page.app.accept_invitation(token, first, last, password, page.checked("accept_terms")),
        )
    except TermsNotAccepted:
        page.errors["accept_terms"] = "Accept the terms and conditions to continue."
        return _invitation(page, token, user, 409)
    except CspError as e:
        page.fail(e)
        return _invitation(page, token, user, 422)
    if accepted.sign_in_method != "local":
        return page.redirect("/login", "Your account is ready: log in with your Microsoft account.")
    return page.redirect(f"/login?next={home_of(page)}", "Your account is ready: log in with your email and password.")


def _registration(page: Page, slug: str, status_code: int = 200) -> Response:
    reseller = page.app.reseller_by_slug(slug)
    settings = reseller.reseller_settings()
    return page.render(
        "register.html",
        status_code=status_code,
        title=f"Register with {reseller.name}",
        reseller=reseller,
        settings=settings,
        portal_slug=slug,
        industries=INDUSTRIES,
    )


@router.get("/portal/{slug}/register")
def registration_form(slug: str, page: PageDep) -> Response:
    page.app.reseller_by_slug(slug).check_self_registration_allowed()
    return _registration(page, slug)


def profile_from_form(page: Page) -> OrganizationProfile:
    """The organization form's fields as a profile (the aggregate checks them)."""
    return OrganizationProfile(
        name=page.required("name"),
        country=page.required("country").upper(),
        address=Address(
            line1=page.required("address.line1"),
            city=page.required("address.city"),
            postal_code=page.required("address.postal_code"),
        ),
        contact_email=page.required("contact_email"),
        contact_phone=page.value("contact_phone"),
        industry=page.required("industry", "choose the industry"),  # type: ignore[arg-type]
        eligibility=Eligibility(
            academic=page.checked("eligibility.academic"),
            government=page.checked("eligibility.government"),
            nonprofit=page.checked("eligibility.nonprofit"),
        ),
        # billing details (customer invoices, issue 18)
        vat_number=page.value("vat_number"),
        billing_email=page.value("billing_email"),
        currency=page.value("currency") or "",
    )


@router.post("/portal/{slug}/register")
def register(slug: str, page: PageDep) -> Response:
    profile = profile_from_form(page)
    admin = NewLogin(
        page.required("admin.email"),
        page.required("admin.password"),
        page.required("admin.first_name"),
        page.required("admin.last_name"),
    )
    if page.errors:
        return _registration(page, slug, 422)
    try:
        registration = _signups(page).register(
            "register",
            admin.email,
            _client(page),
            f"the organization {profile.name}, a customer of the reseller at /portal/{slug}",
            lambda: page.app.self_register_customer(slug, profile, admin, page.checked("accept_terms")),
        )
    except TooManyAttempts as e:
        page.errors["_form"] = f"Too many sign-ups; try again in {e.details.get('retry_after_seconds', 60)} seconds."
        return _registration(page, slug, 429)
    except TermsNotAccepted:
        page.errors["accept_terms"] = "Accept the terms and conditions to continue."
        return _registration(page, slug, 409)
    except CspError as e:
        page.fail(e, {"email": "admin.email", "password": "admin.password"})
        return _registration(page, slug, 422)
    return _check_your_email(page, registration.user.email, registration.token)
