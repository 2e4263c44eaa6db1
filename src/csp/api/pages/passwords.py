"""My account (change the password, API tokens), a user's API tokens for whoever manages
the user, and the forgotten-password pages (ask for a link; choose a new password)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError, NotFound, PasswordResetExpired, PasswordResetInvalid
from csp.api import access
from csp.api import schemas as s
from csp.api.errors import TooManyAttempts
from csp.api.pages.web import Page, page_for
from csp.api.passwords import PasswordFlows

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]
TOKEN_LIFETIMES = (("", "Until revoked"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"))


def _flows(page: Page) -> PasswordFlows:
    return page.request.app.state.passwords  # type: ignore[no-any-return]


def _address(page: Page) -> str:
    return page.request.client.host if page.request.client else "unknown"


def _throttled(page: Page, e: TooManyAttempts, what: str) -> None:
    page.errors["_form"] = f"{what}; try again in {e.details.get('retry_after_seconds', 60)} seconds."


# --- my account -------------------------------------------------------------------------------


def _account(page: Page, status_code: int = 200, new_token: s.TokenPublic | None = None) -> Response:
    caller = page.user()
    user = page.app.user(caller.user_id)
    now = page.app.now()
    tokens = [(t, t.status(now)) for t in page.app.api_tokens(caller.user_id, caller.user_id)]
    return page.render(
        "account.html",
        status_code=status_code,
        title="My account",
        user=user,
        tokens=tokens,
        new_token=new_token,
        lifetimes=TOKEN_LIFETIMES,
    )


@router.get("/account")
def my_account(page: PageDep) -> Response:
    return _account(page)


@router.post("/account/password")
def change_password(page: PageDep) -> Response:
    caller = page.user()
    current = page.required("current_password", "enter your current password")
    new = page.required("new_password", "choose a new password of at least 12 characters")
    if new and page.value("confirm_password") != new:
        page.errors["confirm_password"] = "does not match the new password"
    if page.errors:
        return _account(page, 422)
    try:
        _flows(page).change(caller, current, new, _address(page))
    except TooManyAttempts as e:
        _throttled(page, e, "Too many wrong passwords")
        return _account(page, 429)
    except CspError as e:
        page.fail(e)
        return _account(page, 422)
    return page.redirect("/account", "Your password is changed. Every other sign-in of your account has ended.")


@router.post("/account/tokens")
def create_token(page: PageDep) -> Response:
    caller = page.user()
    name = page.required("name", "name the token (what uses it)")
    days = page.integer("lifetime", None, 1, 3650)
    if page.errors:
        return _account(page, 422)
    expires_at = page.app.now() + timedelta(days=days) if days else None
    try:
        user, token = page.commands.run(lambda: page.app.issue_api_token(caller.user_id, name, expires_at))
    except CspError as e:
        page.fail(e, {"expires_at": "lifetime"})
        return _account(page, 422)
    issued = user.tokens[-1]
    page.form = None  # an empty form, and the token shown this once
    shown = s.TokenPublic(
        id=issued.id, name=issued.name, token=token, created_at=issued.created_at, expires_at=issued.expires_at
    )
    return _account(page, new_token=shown)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_my_token(token_id: UUID, page: PageDep) -> Response:
    caller = page.user()
    page.commands.run(lambda: page.app.revoke_api_token(caller.user_id, caller.user_id, token_id))
    return page.redirect("/account", "The token is revoked: it no longer works.")


# --- a user's tokens, for whoever manages the user ---------------------------------------------


@router.get("/users/{user_id}/tokens")
def user_tokens(user_id: UUID, page: PageDep) -> Response:
    caller = page.allow("users.manage")
    user = access.user(page.app, caller, user_id)
    now = page.app.now()
    tokens = [(t, t.status(now)) for t in page.app.api_tokens(caller.user_id, user.id)]
    return page.render("user_tokens.html", title=f"API tokens of {user.email}", user=user, tokens=tokens)


@router.post("/users/{user_id}/tokens/{token_id}/revoke")
def revoke_user_token(user_id: UUID, token_id: UUID, page: PageDep) -> Response:
    caller = page.allow("users.manage")
    user = access.user(page.app, caller, user_id)
    page.commands.run(lambda: page.app.revoke_api_token(caller.user_id, user.id, token_id))
    return page.redirect(f"/users/{user.id}/tokens", "The token is revoked: it no longer works.")


# --- forgotten password ------------------------------------------------------------------------


@router.get("/password-reset")
def ask_reset_form(page: PageDep) -> Response:
    return page.render("password_reset.html", title="Forgot your password?", sent=None)


@router.post("/password-reset")
def ask_reset(page: PageDep) -> Response:
    email = page.required("email", "enter the email address you log in with")
    if page.errors:
        return page.render("password_reset.html", status_code=422, title="Forgot your password?", sent=None)
    try:
        sent = _flows(page).ask_reset(email, _address(page))
    except TooManyAttempts as e:
        _throttled(page, e, "Too many requests for a link")
        return page.render("password_reset.html", status_code=429, title="Forgot your password?", sent=None)
    except CspError as e:
        page.fail(e)
        return page.render("password_reset.html", status_code=422, title="Forgot your password?", sent=None)
    return page.render("password_reset.html", title="Forgot your password?", sent=sent)


def _new_password_form(page: Page, token: str, status_code: int = 200) -> Response:
    return page.render("password_reset_set.html", status_code=status_code, title="Choose a new password", token=token)


@router.get("/password-reset/{token}")
def reset_form(token: str, page: PageDep) -> Response:
    try:
        page.app.check_password_reset(token)  # an unknown link: the 404 page
    except (PasswordResetInvalid, PasswordResetExpired) as e:
        page.fail(e)
        return page.render("password_reset.html", status_code=409, title="Forgot your password?", sent=None)
    return _new_password_form(page, token)


@router.post("/password-reset/{token}")
def reset(token: str, page: PageDep) -> Response:
    password = page.required("password", "choose a new password of at least 12 characters")
    if password and page.value("confirm_password") != password:
        page.errors["confirm_password"] = "does not match the new password"
    if page.errors:
        return _new_password_form(page, token, 422)
    try:
        _flows(page).reset(token, password)
    except NotFound:
        raise  # an unknown link: the 404 page
    except (PasswordResetInvalid, PasswordResetExpired) as e:
        page.fail(e)
        return page.render("password_reset.html", status_code=409, title="Forgot your password?", sent=None)
    except CspError as e:
        page.fail(e)
        return _new_password_form(page, token, 422)
    return page.redirect("/login", "Your password is changed: log in with it.")
