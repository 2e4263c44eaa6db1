"""One OpenID Connect provider: Microsoft's identity platform for personal accounts or for
work (Entra ID) accounts.

It reads the provider's discovery document and its keys (JWKS), both cached; the keys
are fetched again when a token names a key id the cache does not know (the provider
rotated its keys). It builds the authorization URL (authorization-code flow, PKCE S256,
``state`` and ``nonce``) and exchanges the code for tokens with authlib's OAuth 2 client,
and verifies the ID token with joserfc and authlib's ID-token claims: the signature
against the provider's keys (asymmetric algorithms only), the issuer, the audience (our
client id), the expiry, the nonce, and Microsoft's tenant rules:

- personal accounts: the token's ``tid`` is the consumer tenant
  (``9188040d-6c67-4c5b-b112-36a304b66dad``) and ``iss`` its issuer;
- work accounts (the ``organizations`` endpoint, whose discovery issuer reads
  ``…/{tenantid}/v2.0``): ``iss`` is that pattern with the token's own ``tid``, a tenant
  other than the consumer one (and, if the operator lists tenants, one of them).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from csp.aggregates.user import ExternalIdentity

with warnings.catch_warnings():
    # authlib prefers the httpx2 package and warns when it falls back to httpx, which is
    # the HTTP client of this project; the client itself is the same.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

MICROSOFT_CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
TENANT_PLACEHOLDER = "{tenantid}"
DISCOVERY_PATH = "/.well-known/openid-configuration"
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
TENANT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ProviderError(Exception):
    """The sign-in failed at or with the provider. ``code`` is one of
    ``consent_denied``, ``provider_error``, ``provider_unavailable``, ``id_token_invalid``."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def _invalid(reason: str, message: str) -> ProviderError:
    return ProviderError("id_token_invalid", f"the provider's ID token was refused: {message}", reason=reason)


@dataclass(frozen=True)
class ProviderConfig:
    method: str  # the sign-in method it serves: microsoft_personal | microsoft_work
    client_id: str
    client_secret: str
    discovery_url: str
    redirect_uri: str
    tenants: frozenset[str] = field(default_factory=frozenset)  # work: allowed tenant ids (empty: any)
    scope: str = "openid profile email"
    timeout: float = 10.0
    leeway: int = 120
    metadata_ttl: float = 24 * 3600.0
    key_refresh_interval: float = 10.0  # at most one forced JWKS refresh this often

    @property
    def personal(self) -> bool:
        return self.method == "microsoft_personal"

    @property
    def discovery_document_url(self) -> str:
        """The discovery document; an issuer URL is accepted too."""
        url = self.discovery_url.rstrip("/")
        return url if url.endswith(DISCOVERY_PATH) else url + DISCOVERY_PATH


@dataclass(frozen=True)
class VerifiedSignIn:
    identity: ExternalIdentity
    emails: tuple[str, ...]  # the token's email and preferred_username, as given
    claims: dict[str, Any]


class OidcProvider:
    """Discovery, keys, authorization URL, code exchange and ID token checks of one provider."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._http = httpx.Client(timeout=config.timeout)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._forced_at = -float("inf")

    @property
    def method(self) -> str:
        return self.config.method

    def close(self) -> None:
        self._http.close()

    # --- discovery and keys -----------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            r = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise ProviderError(
                "provider_unavailable", f"the identity provider cannot be reached ({what}): {e}", url=url
            ) from None
        if r.status_code != 200:
            raise ProviderError(
                "provider_unavailable", f"the identity provider answered {r.status_code} for its {what}", url=url
            )
        try:
            data = r.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderError("provider_unavailable", f"the identity provider's {what} is not a JSON object", url=url)
        return data

    def metadata(self) -> dict[str, Any]:
        """The discovery document (cached for a day)."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < self.config.metadata_ttl:
                return self._metadata
        data = self._get_json(self.config.discovery_document_url, "discovery document")
        missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not data.get(k)]
        if missing:
            raise ProviderError(
                "provider_unavailable", f"the provider's discovery document lacks {', '.join(missing)}", missing=missing
            )
        with self._lock:
            self._metadata, self._metadata_at = data, time.monotonic()
        return data

    def keys(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys; ``refresh`` fetches them again (a key id unknown to
        the cache), at most once per ``key_refresh_interval``."""
        with self._lock:
            now = time.monotonic()
            cached = self._keys
            fresh = cached is not None and now - self._keys_at < self.config.metadata_ttl
            throttled = refresh and now - self._forced_at < self.config.key_refresh_interval
            if fresh and (not refresh or throttled):
                return cached  # type: ignore[return-value]
            if refresh:
                self._forced_at = now
        data = self._get_json(str(self.metadata()["jwks_uri"]), "signing keys")
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, KeyError, TypeError, ValueError) as e:
            raise ProviderError("provider_unavailable", f"the provider's signing keys cannot be read: {e}") from None
        with self._lock:
            self._keys, self._keys_at = keys, time.monotonic()
        return keys

    # --- the flow ---------------------------------------------------------------

    def _client(self) -> OAuth2Client:
        auth_methods = self.metadata().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if not self.config.client_secret:
            auth_method = "none"
        elif "client_secret_post" in auth_methods:
            auth_method = "client_secret_post"
        else:
            auth_method = "client_secret_basic"
        return OAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret or None,
            token_endpoint_auth_method=auth_method,
            scope=self.config.scope,
            redirect_uri=self.config.redirect_uri,
            code_challenge_method="S256",
            timeout=self.config.timeout,
        )

    @staticmethod
    def new_secrets() -> tuple[str, str, str]:
        """A fresh ``state``, ``nonce`` and PKCE code verifier (48 random characters)."""
        return secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(48)

    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        with self._client() as client:
            url, _ = client.create_authorization_url(
                str(self.metadata()["authorization_endpoint"]),
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
                response_mode="query",
                prompt="select_account",
            )
        return str(url)

    def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for this code (it must carry an ID token)."""
        with self._client() as client:
            try:
                token = client.fetch_token(
                    str(self.metadata()["token_endpoint"]),
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except OAuthError as e:
                raise ProviderError(
                    "provider_error",
                    f"the identity provider refused the sign-in: {e.error}"
                    + (f" ({e.description})" if e.description else ""),
                    provider_error=e.error,
                ) from None
            except httpx.HTTPStatusError as e:
                raise ProviderError(
                    "provider_unavailable", f"the identity provider's token endpoint answered {e.response.status_code}"
                ) from None
            except httpx.HTTPError as e:
                raise ProviderError("provider_unavailable", f"the identity provider cannot be reached: {e}") from None
            except ValueError as e:
                raise ProviderError("provider_error", f"the identity provider's answer is not usable: {e}") from None
        if not isinstance(token.get("id_token"), str):
            raise ProviderError("provider_error", "the identity provider answered without an ID token")
        return dict(token)

    def sign_in(self, code: str, code_verifier: str, nonce: str) -> VerifiedSignIn:
        """Exchange the code and verify the ID token: who signed in."""
        token = self.exchange(code, code_verifier)
        claims = self.verify_id_token(token["id_token"], nonce, token.get("access_token"))
        return self.identity_of(claims)

    # --- the ID token -------------------------------------------------------------

    def _algorithms(self) -> list[str]:
        offered = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        return [a for a in offered if a in ASYMMETRIC_ALGORITHMS] or ["RS256"]

    def _decode(self, id_token: str) -> jwt.Token:
        algorithms = self._algorithms()
        try:
            try:
                return jwt.decode(id_token, self.keys(), algorithms=algorithms)
            except InvalidKeyIdError:
                return jwt.decode(id_token, self.keys(refresh=True), algorithms=algorithms)
        except InvalidKeyIdError:
            raise _invalid("signature", "it is signed with a key the provider does not publish") from None
        except BadSignatureError:
            raise _invalid("signature", "its signature does not verify") from None
        except JoseError as e:
            raise _invalid("malformed", f"it cannot be read ({e.error})") from None
        except ValueError:
            raise _invalid("malformed", "it cannot be read") from None

    def expected_issuer(self, claims: dict[str, Any]) -> str:
        """The issuer the token must name: the discovery document's, with the token's own
        tenant where that names a pattern (``…/{tenantid}/v2.0``), after the tenant rules."""
        tid = claims.get("tid")
        if not isinstance(tid, str) or not TENANT_ID.match(tid):
            raise _invalid("tenant", "it names no tenant (tid)")
        if self.config.personal:
            if tid != MICROSOFT_CONSUMER_TENANT:
                raise _invalid("tenant", "it is not from a personal Microsoft account (use the work account button)")
        else:
            if tid == MICROSOFT_CONSUMER_TENANT:
                raise _invalid("tenant", "it is from a personal Microsoft account (use the personal account button)")
            if self.config.tenants and tid not in self.config.tenants:
                raise _invalid("tenant", "its organization (tenant) may not sign in to this platform")
        issuer = str(self.metadata()["issuer"])
        return issuer.replace(TENANT_PLACEHOLDER, tid)

    def verify_id_token(self, id_token: str, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
        token = self._decode(id_token)
        claims = dict(token.claims)
        checked = CodeIDToken(
            claims,
            token.header,
            options={
                "iss": {"essential": True, "value": self.expected_issuer(claims)},
                "aud": {"essential": True, "value": self.config.client_id},
                "exp": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            },
            params={"nonce": nonce, "client_id": self.config.client_id, "access_token": access_token},
        )
        try:
            checked.validate(leeway=self.config.leeway)
        except ExpiredTokenError:
            raise _invalid("expired", "it has expired") from None
        except (InvalidClaimError, MissingClaimError) as e:
            reason = {"iss": "issuer", "aud": "audience", "nonce": "nonce"}.get(e.claim, e.claim)
            raise _invalid(reason, f"its {e.claim} claim is wrong or missing") from None
        return claims

    def identity_of(self, claims: dict[str, Any]) -> VerifiedSignIn:
        """The identity (Microsoft: ``tid`` and ``oid``, else ``sub``) and the emails of a
        verified token."""
        subject = claims.get("oid") or claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _invalid("subject", "it names no subject")
        emails = tuple(
            v.strip()
            for v in (claims.get("email"), claims.get("preferred_username"))
            if isinstance(v, str) and "@" in v
        )
        identity = ExternalIdentity(
            method=self.config.method,  # type: ignore[arg-type]
            issuer=str(claims["iss"]),
            tenant_id=str(claims.get("tid", "")),
            subject=subject,
        )
        return VerifiedSignIn(identity=identity, emails=emails, claims=claims)
