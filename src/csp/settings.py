"""Settings from the environment (prefix ``CSP_``); read once, when asked, never at import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSP_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Local data folder of the embedded default.")
    database_url: str = Field(
        default="", description="sqlite:///path/csp.db (default: <data_dir>/csp.db) or postgresql://user@host/db"
    )
    broker_url: str = Field(default="", description="empty: in-process; redis://host:6379/0 or amqp://...")
    postgres_pool_size: int = Field(
        default=2, ge=1, description="PostgreSQL: connections the event store's pool keeps open (docs/operations.md)"
    )
    postgres_max_overflow: int = Field(
        default=4, ge=0, description="PostgreSQL: connections that pool may open beyond its size under load"
    )
    startup_attempts: int = Field(
        default=8, ge=1, description="start-up tries on a transient database error (schema race, too many clients)"
    )
    vendor_url: str = Field(default="", description="empty: the vendor simulator, mounted in-process")
    smtp_url: str = Field(default="", description="empty: .eml files in <data_dir>/outbox; smtp://user:pass@host:587")
    test_mode: bool = Field(default=False, description="enables the test clock API")
    operator_emails: str = Field(
        default="",
        description="comma-separated emails of the distributor's operators: signed-in users who may read and set "
        "the exchange rates (the /exchange-rates API; docs/currencies.md)",
    )
    public_url: str = Field(default="http://127.0.0.1:8000", description="the portal's address, for links in emails")
    log_level: str = "INFO"
    session_url: str = Field(
        default="", description="empty: sessions in the database (or the broker's Redis); redis://host:6379/0"
    )
    session_ttl_hours: float = Field(default=12.0, gt=0, description="how long a sign-in lasts")
    redis_prefix: str = Field(default="csp:", description="prefix of every Redis key of this deployment")
    signup_limit_per_hour: int = Field(
        default=10, gt=0, description="sign-ups (and self-registrations) one client address may start in an hour"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="a request body above this many bytes is answered 413 (default 1 MiB)"
    )
    log_format: str = Field(
        default="auto",
        description="json (structured, one object a line), text, or auto: text on a terminal, json otherwise",
    )
    log_requests: bool = Field(
        default=False,
        description="one log line per HTTP request and per vendor call at INFO (off: at DEBUG, shown with "
        "CSP_LOG_LEVEL=DEBUG)",
    )
    projections_in_process: bool | None = Field(
        default=None,
        description="run the read models' projections inside csp serve (default: yes unless CSP_BROKER_URL is set, "
        "when csp project runs them)",
    )

    sagas_in_process: bool | None = Field(
        default=None,
        description="run the relay, saga workers and scheduler inside csp serve (default: yes unless CSP_BROKER_URL "
        "is set, when csp relay, worker and scheduler run them)",
    )
    sagas_control_url: str = Field(
        default="",
        description="set by csp serve --workers for its API processes: the loopback address of the process running "
        "the sagas, asked to drain and to run due work (the test clock)",
    )
    sagas_control_token: str = Field(default="", description="the bearer token of that address (set with it)")

    def run_projections_in_process(self) -> bool:
        if self.projections_in_process is not None:
            return self.projections_in_process
        return not self.broker_url

    def run_sagas_in_process(self) -> bool:
        if self.sagas_in_process is not None:
            return self.sagas_in_process
        return not self.broker_url

    # --- sagas: broker, workers, scheduler (csp.workers) ---
    broker_namespace: str = Field(
        default="csp", description="prefix of the broker's queues (Redis namespace, RabbitMQ queue names)"
    )
    broker_heartbeat_ms: int = Field(
        default=60_000, description="Redis: a dead worker's messages come back after this long"
    )
    worker_threads: int = Field(default=8, description="worker threads per process (and in-process)")
    saga_max_retries: int = Field(default=10, description="attempts after the first, for transient vendor errors")
    saga_min_backoff_ms: int = Field(default=500, description="first retry delay; doubles up to the maximum")
    saga_max_backoff_ms: int = Field(default=30_000, description="longest retry delay")
    saga_time_limit_ms: int = Field(default=120_000, description="a saga step taking longer is interrupted")
    saga_poll_ms: int = Field(default=500, description="how long to wait before asking the vendor again")
    saga_settle_ms: int = Field(
        default=30_000,
        description="how long a vendor request left unanswered may still be worked on at the vendor: before a "
        "line is recorded failed, the vendor is asked a second time after this long",
    )
    scheduler_interval_seconds: float = Field(default=30.0, description="how often the scheduler looks for due work")
    vendor_sync_interval_seconds: float = Field(
        default=3600.0, description="how often assigned licences and usage are synced from the vendor"
    )
    vendor_reconcile_interval_seconds: float = Field(
        default=86400.0,
        description="how often every customer's subscriptions at the vendor are compared with the platform's "
        "(differences are logged; csp vendor reconcile --fix resolves them)",
    )

    # --- outbound webhooks (csp.workers.webhooks) ---
    webhook_max_retries: int = Field(default=12, ge=0, description="attempts after the first, per delivery")
    webhook_min_backoff_ms: int = Field(default=5_000, ge=1, description="first retry delay; doubles up to the maximum")
    webhook_max_backoff_ms: int = Field(default=3_600_000, ge=1, description="longest retry delay (default 1 h)")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="timeout of one POST to an endpoint")
    webhook_disable_after: int = Field(
        default=10, ge=1, description="deliveries in a row given up after which an endpoint is disabled"
    )

    # --- the vendor (csp.vendor) ---
    vendor_timeout_seconds: float = Field(default=10.0, description="timeout of one call to the vendor's API")
    vendor_sim_db: str = Field(default="", description="the simulator's state (default: <data_dir>/vendor-sim.db)")
    vendor_sim_domain_check_seconds: float = Field(default=1.0, description="how long creating a tenant takes")
    vendor_sim_order_seconds: float = Field(default=0.5, description="how long an order stays pending")
    vendor_sim_latency_ms: int = Field(default=0, description="added to every simulator answer")
    vendor_sim_error_rate: float = Field(default=0.0, description="share of calls answered 5xx (not processed)")
    vendor_sim_timeout_rate: float = Field(default=0.0, description="share of calls that hang (not processed)")
    vendor_sim_lost_answer_rate: float = Field(
        default=0.0, description="share of calls processed whose answer is lost (502)"
    )
    vendor_sim_hang_seconds: float = Field(default=15.0, description="how long a 'timeout' call hangs")
    vendor_sim_legacy_delegated_access: bool = Field(
        default=False,
        description="the simulator reports the old yes/no delegated admin (DAP) flag, so a tenant links without "
        "a GDAP relationship (legacy mode; off: linking needs an active GDAP relationship)",
    )

    # --- sign in with Microsoft: OpenID Connect (csp.api.oidc) ---
    oidc_personal_client_id: str = Field(
        default="", description="application (client) id for personal Microsoft accounts; empty: method off"
    )
    oidc_personal_client_secret: str = Field(default="", description="its client secret")
    oidc_personal_discovery_url: str = Field(
        default="https://login.microsoftonline.com/consumers/v2.0/.well-known/openid-configuration",
        description="the provider's issuer or discovery document (personal accounts)",
    )
    oidc_work_client_id: str = Field(
        default="", description="application (client) id for work (Entra ID) accounts; empty: method off"
    )
    oidc_work_client_secret: str = Field(default="", description="its client secret")
    oidc_work_discovery_url: str = Field(
        default="https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
        description="the provider's issuer or discovery document (work accounts)",
    )
    oidc_work_tenants: str = Field(
        default="", description="comma-separated Entra tenant ids whose users may sign in; empty: any tenant"
    )
    oidc_redirect_base: str = Field(
        default="", description="base of the redirect URIs registered at the provider (default: public_url)"
    )
    oidc_state_ttl_seconds: float = Field(default=600.0, gt=0, description="how long a started sign-in stays valid")
    oidc_timeout_seconds: float = Field(default=10.0, gt=0, description="timeout of one call to the provider")
    oidc_clock_skew_seconds: int = Field(
        default=120, ge=0, description="tolerance on the ID token's times (exp, nbf, iat)"
    )

    # --- secrets at rest (csp.keys) ---
    secret_key: str = Field(
        default="",
        description="base64 of 32 bytes (csp secret-key makes one): the AES-GCM key sealing webhook secrets in the "
        "event store; empty: the key file",
    )
    secret_key_file: str = Field(
        default="", description="where the key lives without CSP_SECRET_KEY (default: <data_dir>/secret.key, made 0600)"
    )

    # --- email (csp.mail) ---
    mail_from: str = Field(default="CSP platform <noreply@csp.localhost>", description="sender of every email")

    def resolved_vendor_sim_db(self) -> Path:
        return Path(self.vendor_sim_db) if self.vendor_sim_db else self.data_dir / "vendor-sim.db"

    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'csp.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
