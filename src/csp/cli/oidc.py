"""``csp oidc check``: is Microsoft sign-in set up, and does Microsoft answer?"""

from __future__ import annotations

import typer
from rich.console import Console

from csp.cli.common import clean_errors

console = Console()


def register(app: typer.Typer) -> None:

    oidc = typer.Typer(help="Sign in with Microsoft (OpenID Connect).", no_args_is_help=True)
    app.add_typer(oidc, name="oidc")

    @oidc.command("check")
    @clean_errors
    def check() -> None:
        """Read each configured provider's discovery document and keys; print the redirect
        URI to register at Microsoft. Exits 1 when a provider does not answer."""
        from csp.api.oidc import provider_configs
        from csp.api.oidc_provider import OidcProvider, ProviderError
        from csp.settings import get_settings

        configs = provider_configs(get_settings())
        if not configs:
            console.print(
                "csp: Microsoft sign-in is off (set CSP_OIDC_PERSONAL_CLIENT_ID and/or CSP_OIDC_WORK_CLIENT_ID)"
            )
            return
        failed = False
        for config in configs:
            provider = OidcProvider(config)
            try:
                with console.status(f"asking {config.discovery_document_url}"):
                    issuer = str(provider.metadata()["issuer"])
                    keys = len(provider.keys().keys)
                console.print(f"{config.method}: [green]ok[/] issuer {issuer}, {keys} signing keys")
            except ProviderError as e:
                failed = True
                console.print(f"{config.method}: [bold red]failed[/] {e.message}")
            finally:
                provider.close()
            console.print(f"  redirect URI to register: {config.redirect_uri}", soft_wrap=True)
        if failed:
            raise typer.Exit(1)
