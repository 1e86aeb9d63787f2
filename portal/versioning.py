"""Optimistic locking for what users edit in forms (record cards, document headers,
approval user setup, job queue entries): a row version (SQLAlchemy's
``version_id_col``) that every ORM update raises, carried by the form as a hidden
field. Saving a form loaded before someone else's save is a :class:`Conflict`: the
page shows both values and nothing is overwritten."""
from __future__ import annotations

from sqlalchemy.orm import Mapped, declared_attr, mapped_column


class Versioned:
    """Mixin: a ``version`` column (1 on insert) that SQLAlchemy raises on each ORM
    update and checks in its ``WHERE`` (a concurrent update makes the flush raise
    ``StaleDataError`` instead of overwriting)."""

    version: Mapped[int] = mapped_column(default=1, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls):  # noqa: N805 - SQLAlchemy's declared attribute
        return {"version_id_col": cls.__table__.c.version}


class Conflict(Exception):
    """The form was loaded at version ``submitted``; the row is at ``saved`` now."""

    def __init__(self, submitted: int | None, saved: int):
        super().__init__(f"Version {submitted} was changed meanwhile (now {saved}).")
        self.submitted, self.saved = submitted, saved


CONFLICT_MESSAGE = ("Someone else saved this since you opened it. Nothing was saved: compare the values "
                    "below, then save again to keep yours.")


def form_version(form) -> int | None:
    """The version a form was loaded at (its hidden ``version`` field), or None when
    it has none (an older page, a script): then no check is made."""
    raw = (form.get("version") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def check_version(obj: Versioned, submitted: int | None) -> None:
    """Raise :class:`Conflict` if ``obj`` was saved since the form was loaded at
    ``submitted`` (None: no check)."""
    if submitted is not None and submitted != obj.version:
        raise Conflict(submitted, obj.version)


def differences(saved: dict, yours: dict, labels: dict[str, str]) -> list[tuple[str, str, str]]:
    """The entries of ``labels`` (key → caption) whose value differs between the
    saved values and the user's, as ``[(caption, saved text, your text)]``; None
    shows as blank, booleans as Yes / No."""

    def text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "Yes" if value else "No"
        return str(value)

    return [(caption, text(saved.get(key)), text(yours.get(key))) for key, caption in labels.items()
            if text(saved.get(key)) != text(yours.get(key))]
