"""Secrets at rest: webhook tokens and passwords, secret header values and the signing
secrets of HTTP-triggered flows are stored encrypted with Fernet (``cryptography``),
under the key ``SECRET_ENCRYPTION_KEY`` of the configuration (on the embedded default
one kept in ``instance/``, see :mod:`portal.config`).

A sealed value is text ``"fernet:<token>"``, so it can sit in a step's options (JSON)
and in an effect's payload. It is opened only where it is used: the webhook performer
(after the commit, outside any transaction) and the signature check of an incoming
request. Pages, exports and error texts show :data:`MASK` instead.
"""
from __future__ import annotations

from typing import Any

from flask import current_app

PREFIX = "fernet:"
MASK = "•••• (set)"


class SecretError(Exception):
    """A sealed value can't be opened (another key, or damaged)."""


def _fernet():
    from cryptography.fernet import Fernet

    key = current_app.config["SECRET_ENCRYPTION_KEY"]
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError) as exc:
        raise SecretError("SECRET_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes).") from exc


def seal(plain: str) -> str:
    """Encrypt ``plain`` → ``"fernet:<token>"`` (text, safe to store in JSON)."""
    return PREFIX + _fernet().encrypt(plain.encode("utf-8")).decode("ascii")


def is_sealed(value: Any) -> bool:
    """True if ``value`` is a sealed secret (see :func:`seal`)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def open_sealed(value: str) -> str:
    """Decrypt a value made by :func:`seal`. Raises :class:`SecretError` when it was
    sealed under another key or is damaged (never echoing the value)."""
    from cryptography.fernet import InvalidToken

    if not is_sealed(value):
        raise SecretError("The stored secret is not encrypted.")
    try:
        return _fernet().decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretError("The stored secret can't be decrypted (was SECRET_ENCRYPTION_KEY changed?).") from exc


def secret_option_names(code: str) -> set[str]:
    """Names of response ``code``'s options of kind ``secret``."""
    from portal.workflow.catalog import RESPONSES

    definition = RESPONSES.get(code)
    return {o.name for o in definition.options if o.kind == "secret"} if definition else set()


def masked_options(code: str, options: dict | None) -> dict:
    """``options`` of a step of response ``code`` fit to show: each secret option that
    holds a value reads :data:`MASK`."""
    secret = secret_option_names(code)
    return {k: (MASK if k in secret and v else v) for k, v in (options or {}).items()}


def without_secrets(code: str, options: dict | None) -> dict:
    """``options`` with the secret options left out (exports: a secret is set again
    after an import)."""
    secret = secret_option_names(code)
    return {k: v for k, v in (options or {}).items() if k not in secret}


def parse_header_lines(text: str) -> tuple[dict[str, str], list[str]]:
    """Headers from text, one ``Name: value`` per line (blank lines skipped). Returns
    ``(headers, problems)``; a problem names the line, never its value."""
    headers: dict[str, str] = {}
    problems: list[str] = []
    for n, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t()<>@,;\\\"/[]?={}") or not name.isascii():
            problems.append(f"line {n} is not a header (write Name: value)")
        elif "\r" in value or "\n" in value:
            problems.append(f"line {n} has a line break in its value")
        else:
            headers[name] = value.strip()
    return headers, problems
