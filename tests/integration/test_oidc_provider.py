"""The OpenID provider client on its own, against the loopback provider: discovery and keys
cached, Microsoft's tenant rules, and the provider's refusals told apart."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from csp.api.oidc_provider import OidcProvider, ProviderConfig, ProviderError
from tests.fixtures.oidc import MicrosoftIdp, MsAccount, free_port

REDIRECT = "http://127.0.0.1:9/api/v1/auth/oidc/microsoft_work/callback"  # never visited here


def provider(idp: MicrosoftIdp, authority: str = "organizations", **over: object) -> OidcProvider:
    client_id, secret = idp.register_client(REDIRECT)
    values: dict[str, object] = {
        "method": "microsoft_personal" if authority == "consumers" else "microsoft_work",
        "client_id": client_id,
        "client_secret": secret,
        "discovery_url": idp.discovery_url(authority),
        "redirect_uri": REDIRECT,
        **over,
    }
    return OidcProvider(ProviderConfig(**values))  # type: ignore[arg-type]


def authorize(idp: MicrosoftIdp, p: OidcProvider, account: MsAccount) -> tuple[str, str, str]:
    """The provider's code for ``account``, with the nonce and verifier it was asked with."""
    state, nonce, verifier = OidcProvider.new_secrets()
    idp.account = account
    location = httpx.get(p.authorization_url(state, nonce, verifier)).headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0], nonce, verifier


def refusal(call: object) -> ProviderError:
    with pytest.raises(ProviderError) as e:
        call()  # type: ignore[operator]
    return e.value


def test_a_work_sign_in_gives_the_tenant_and_object_id(idp: MicrosoftIdp):
    p = provider(idp)
    account = MsAccount.work("mihai@contoso.example")
    code, nonce, verifier = authorize(idp, p, account)
    signed_in = p.sign_in(code, verifier, nonce)
    assert (signed_in.identity.tenant_id, signed_in.identity.subject) == (account.tenant_id, account.oid)
    assert signed_in.emails == ("mihai@contoso.example",)
    p.close()


def test_discovery_and_keys_are_fetched_once_for_many_sign_ins(idp: MicrosoftIdp):
    p = provider(idp)
    keys = idp.key_requests
    for _ in range(3):
        code, nonce, verifier = authorize(idp, p, MsAccount.work("a@contoso.example"))
        p.sign_in(code, verifier, nonce)
    assert idp.key_requests == keys + 1
    p.close()


def test_only_the_listed_work_tenants_may_sign_in(idp: MicrosoftIdp):
    allowed = str(uuid.uuid4())
    p = provider(idp, tenants=frozenset({allowed}))
    code, nonce, verifier = authorize(idp, p, MsAccount.work("a@contoso.example", tenant_id=allowed))
    assert p.sign_in(code, verifier, nonce).identity.tenant_id == allowed
    code, nonce, verifier = authorize(idp, p, MsAccount.work("b@fabrikam.example"))
    e = refusal(lambda: p.sign_in(code, verifier, nonce))
    assert (e.code, e.details["reason"]) == ("id_token_invalid", "tenant")
    p.close()


def test_the_personal_provider_refuses_a_work_tenant_and_the_work_one_a_personal_account(idp: MicrosoftIdp):
    personal = provider(idp, "consumers")
    code, nonce, verifier = authorize(idp, personal, MsAccount.work("a@contoso.example"))
    assert refusal(lambda: personal.sign_in(code, verifier, nonce)).details["reason"] == "tenant"
    work = provider(idp, "organizations")
    code, nonce, verifier = authorize(idp, work, MsAccount.personal("me@outlook.example"))
    assert refusal(lambda: work.sign_in(code, verifier, nonce)).details["reason"] == "tenant"
    personal.close()
    work.close()


def test_the_provider_refusing_the_code_is_a_provider_error(idp: MicrosoftIdp):
    p = provider(idp)
    code, nonce, _ = authorize(idp, p, MsAccount.work("a@contoso.example"))
    e = refusal(lambda: p.sign_in(code, "w" * 48, nonce))  # not the verifier of the challenge
    assert (e.code, e.details["provider_error"]) == ("provider_error", "invalid_grant")
    wrong_secret = provider(idp, client_secret="not-the-secret")
    code, nonce, verifier = authorize(idp, wrong_secret, MsAccount.work("a@contoso.example"))
    assert refusal(lambda: wrong_secret.sign_in(code, verifier, nonce)).details["provider_error"] == "invalid_client"
    p.close()
    wrong_secret.close()


def test_an_unreachable_provider_is_unavailable(idp: MicrosoftIdp):
    p = provider(idp, discovery_url=f"http://127.0.0.1:{free_port()}/organizations/v2.0", timeout=2.0)
    e = refusal(lambda: p.authorization_url("s", "n", "v" * 48))
    assert e.code == "provider_unavailable"
    assert "cannot be reached" in e.message
    p.close()
