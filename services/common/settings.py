"""The one place for settings: every process builds one ``Settings`` from the environment.

Variables are prefixed ``PERMIS_`` (``PERMIS_TEMPORAL_ADDRESS``...). Defaults suit a
developer's machine; outside development the validator refuses unsafe ones, so a
misconfigured deployment stops at start-up instead of running with a demo secret.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"
# Development-only AES-256 key of workflow payloads (base64 of 32 bytes): data_converter()
# refuses it in production.
DEV_PAYLOAD_KEY = "ZGV2LW9ubHktcGF5bG9hZC1rZXktMzItYnl0ZXMhISE="
DEV_CODEC_SERVER_TOKEN = "dev-only-codec-token"
DEV_SERVICE_SECRET = "dev-only-service-secret-change-me"
# OWASP's least argon2id cost (Password Storage Cheat Sheet): 19 MiB and 2 passes, or
# 46 MiB and 1 pass. Settings below it are refused in every environment.
ARGON2_MIN_MEMORY_KIB = 19 * 1024
ARGON2_ONE_PASS_MEMORY_KIB = 46 * 1024

ServiceName = Literal[
    "identity", "photocode", "documents", "ctn", "instruction", "production", "support"
]
SERVICE_NAMES: tuple[ServiceName, ...] = (
    "identity",
    "photocode",
    "documents",
    "ctn",
    "instruction",
    "production",
    "support",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERMIS_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    # Each service owns its database. Empty means a SQLite file <data_dir>/<service>.db.
    database_url: str = ""
    log_level: str = "INFO"
    # "json" (production): one JSON object per line, with request_number and trace_id.
    log_format: Literal["text", "json"] = "text"
    # Prometheus /metrics of this process on metrics_host:metrics_port; 0 disables it.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # OTLP/gRPC collector for traces (e.g. http://otel-collector:4317); empty: no export.
    otlp_endpoint: str = ""

    # gRPC addresses: where each service listens and where clients find it.
    identity_address: str = "127.0.0.1:50051"
    photocode_address: str = "127.0.0.1:50052"
    documents_address: str = "127.0.0.1:50053"
    ctn_address: str = "127.0.0.1:50054"
    instruction_address: str = "127.0.0.1:50055"
    production_address: str = "127.0.0.1:50056"
    support_address: str = "127.0.0.1:50057"
    grpc_max_message_bytes: int = 16 * 1024 * 1024
    grpc_shutdown_grace_seconds: float = 10.0

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "permis-journeys"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    # Workflows the worker keeps in memory between their tasks (~0.2 MiB each, measured);
    # one evicted from the cache is replayed from its history at its next task or query.
    worker_max_cached_workflows: int = Field(default=500, ge=0)
    # Workflow payloads are encrypted (AES-256-GCM) with payload_key, tagged payload_key_id;
    # payload_previous_keys ({key id: base64 key}) still decrypt after a rotation.
    payload_key: str = DEV_PAYLOAD_KEY
    payload_key_id: str = "dev-1"
    payload_previous_keys: dict[str, str] = Field(default_factory=dict)
    # The codec server lets an operator read payloads in the Temporal UI (bearer token).
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8234
    codec_server_token: str = DEV_CODEC_SERVER_TOKEN
    # Documents and personal data of a journey go this many days after it ended.
    retention_days: int = 730

    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: str = "permis"
    s3_secret_key: str = "permis-dev-secret"
    s3_bucket: str = "permis-documents"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    max_upload_bytes: int = 10 * 1024 * 1024

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_use_tls: bool = False
    mail_from: str = "ANTS Permis de conduire <ne-pas-repondre@permis.example.fr>"
    # Where the journey sends reminders about requests waiting too long for the DDT.
    ddt_mailbox_pattern: str = "ddt-{department}@permis.example.fr"

    # Where candidates reach the site (links in emails, FranceConnect's redirect URI).
    # Empty: http://<gateway_host>:<gateway_port>.
    public_base_url: str = ""
    # Accounts: activation and password-reset links, login lockout (identity service).
    activation_link_ttl_hours: int = 24
    password_reset_link_ttl_minutes: int = 60
    login_failures_before_lockout: int = 5
    lockout_base_seconds: int = 60
    lockout_max_seconds: int = 3600
    # argon2id password hashes (identity). The defaults are argon2-cffi's and RFC 9106's
    # low-memory profile; hashes carry their parameters, so changed ones still verify and
    # are upgraded at the next login. Each hash holds memory_kib of RAM while it runs, so
    # at most password_hash_concurrency run at once and the others wait their turn. One
    # hash's lanes already use several cores; a second slot gave ~25% more hashes/s on
    # 2 cores, for 64 MiB more at peak.
    password_hash_memory_kib: int = Field(default=64 * 1024, ge=ARGON2_MIN_MEMORY_KIB)
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_parallelism: int = Field(default=4, ge=1)
    password_hash_concurrency: int = Field(default=1, ge=1)
    # FranceConnect (OpenID Connect). An empty issuer disables it.
    franceconnect_issuer: str = ""
    franceconnect_client_id: str = ""
    franceconnect_client_secret: str = ""
    # Empty: <public_base_url>/v1/franceconnect/callback.
    franceconnect_redirect_uri: str = ""
    franceconnect_scopes: str = (
        "openid given_name family_name birthdate birthplace birthcountry gender email"
    )

    session_secret: str = DEV_SECRET
    # Signs the service tokens every gRPC call carries (services.common.auth); shared by
    # the processes of one deployment. Tokens live service_token_ttl_seconds.
    service_secret: str = DEV_SERVICE_SECRET
    service_token_ttl_seconds: int = 300
    session_ttl_minutes: int = 60
    # The gateway keeps identity's answer on a session token this long (0: ask every
    # time); a revocation made elsewhere than this gateway waits at most this delay.
    session_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    # Booths approved to issue photo/signature codes ("agréé service en ligne ANTS").
    approved_booths: list[str] = Field(default_factory=lambda: ["CABINE-DEMO-0001"])

    @model_validator(mode="after")
    def refuse_weak_password_hashing(self) -> Settings:
        if self.password_hash_time_cost < 2 and (
            self.password_hash_memory_kib < ARGON2_ONE_PASS_MEMORY_KIB
        ):
            raise ValueError(
                "PERMIS_PASSWORD_HASH_TIME_COST must be 2 or more below "
                f"{ARGON2_ONE_PASS_MEMORY_KIB} KiB of PERMIS_PASSWORD_HASH_MEMORY_KIB (OWASP)"
            )
        return self

    @model_validator(mode="after")
    def refuse_unsafe_outside_development(self) -> Settings:
        if self.environment == "production":
            problems = []
            if self.session_secret == DEV_SECRET or len(self.session_secret) < 32:
                problems.append("PERMIS_SESSION_SECRET must be a secret of 32+ characters")
            if self.service_secret == DEV_SERVICE_SECRET or len(self.service_secret) < 32:
                problems.append("PERMIS_SERVICE_SECRET must be a secret of 32+ characters")
            if self.s3_secret_key == "permis-dev-secret":
                problems.append("PERMIS_S3_SECRET_KEY must be set")
            if problems:
                raise ValueError("; ".join(problems))
        return self

    def public_url(self) -> str:
        base = self.public_base_url or f"http://{self.gateway_host}:{self.gateway_port}"
        return base.rstrip("/")

    def franceconnect_callback_url(self) -> str:
        return self.franceconnect_redirect_uri or f"{self.public_url()}/v1/franceconnect/callback"

    def address_of(self, service: ServiceName) -> str:
        return str(getattr(self, f"{service}_address"))

    def database_url_for(self, service: ServiceName) -> str:
        if self.database_url:
            return self.database_url
        if self.environment == "production":
            # Only processes that own a database need one (the gateway and worker don't).
            raise ValueError(f"PERMIS_DATABASE_URL must be set for {service} in production")
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
