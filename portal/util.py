"""Small shared helpers: UTC time, money rounding, safe redirects, and the checks of
what users type that every area shares (column lengths and number ranges derived from
the model columns, NUL bytes, e-mail addresses, JSON nesting)."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def utcnow() -> datetime:
    """The current time in UTC as a naive datetime (the database stores UTC without zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def money(value) -> Decimal:
    """Round ``value`` (str, int, float or Decimal) to 2 decimals, half up. Raises
    ``decimal.InvalidOperation`` (an ArithmeticError) for text that is not a number."""
    if value is None or value == "":
        return Decimal("0.00")
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def local_path(target: str | None, default: str) -> str:
    """``target`` if it is a path of this portal (``/…``), else ``default``: a
    redirect after sign-in or an action never leaves the portal. Refused: absolute
    URLs, scheme-relative ``//host``, backslashes (``/\\host``, which browsers read as
    ``//host``) and control characters (browsers drop a tab or newline, so
    ``/%09/host`` becomes ``//host``)."""
    from urllib.parse import urlsplit

    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


# ---------------------------------------------------------------- input checks
#
# One mechanism for "does this value fit its column": the limits come from the model
# columns themselves (String(n) → n characters, Numeric(p, s) → |value| < 10^(p-s),
# Integer → 32-bit, BigInteger → 64-bit), so SQLite refuses what PostgreSQL would.
# Forms call :func:`column_errors` to show field errors; :func:`row_errors` runs at
# every flush (portal.db_events) as the safety net that raises :class:`InputRejected`.

#: The largest integer any id or page number can have (PostgreSQL ``bigint``).
MAX_BIGINT = 2**63 - 1
#: How deeply nested JSON an import or a parameter field may be.
MAX_JSON_DEPTH = 32


class InputRejected(ValueError):
    """Values that don't fit their columns: ``errors`` maps field name → message.
    Raised at flush time by the safety net; the app answers 422 with the messages and
    nothing is written (the transaction is rolled back)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def db_int(raw) -> int:
    """``int(raw)`` for an id or page number from a URL or form (``type=db_int`` in
    ``request.args.get``). Raises ValueError for text that isn't a whole number or is
    beyond the database's integer range (so werkzeug falls back to the default)."""
    value = int(str(raw).strip())
    if not -MAX_BIGINT <= value <= MAX_BIGINT:
        raise ValueError(f"{raw!r} is out of range")
    return value


#: The largest page number a list accepts (beyond it: the first page).
MAX_PAGE = 10**9


def page_no(raw) -> int:
    """A list's ``page`` argument (``type=page_no``): a whole number up to
    :data:`MAX_PAGE`; ValueError otherwise, so the list shows its first page."""
    value = db_int(raw)
    if value > MAX_PAGE:
        raise ValueError(f"page {raw!r} is out of range")
    return value


def ids_of(values) -> list[int]:
    """The whole numbers among ``values`` (form or query texts) that can be database
    ids; anything else (text, negative, beyond the integer range) is left out."""
    return [int(v) for v in values if v.isdigit() and int(v) <= MAX_BIGINT]


def text_problem(value: str, label: str, max_length: int | None = None) -> str | None:
    """A message if ``value`` can't be stored as typed (a NUL byte, or longer than
    ``max_length`` characters), else None."""
    if "\x00" in value:
        return f"{label} can't contain NUL characters."
    if max_length is not None and len(value) > max_length:
        return f"{label} can have at most {max_length:,} characters (you entered {len(value):,})."
    return None


def email_problem(value: str, label: str = "E-Mail") -> str | None:
    """A message if ``value`` is not an e-mail address (syntax only, no DNS lookup;
    the reserved ``.test`` domain of the demo data is accepted), else None. Several addresses may be separated by ``;``."""
    from email_validator import EmailNotValidError, validate_email

    for part in value.split(";"):
        try:
            validate_email(part.strip(), check_deliverability=False, test_environment=True)
        except EmailNotValidError:
            return f"{label}: {part.strip()[:80]!r} is not an e-mail address (e.g. name@example.com)."
    return None


def _limits(model) -> dict[str, tuple[str, int | None, int]]:
    """``{attribute: (kind, limit, scale)}`` of ``model``'s columns that have limits:
    kind "text" (limit = length or None), "number" (limit = digits before the decimal
    point), "int" (limit = largest value)."""
    cached = _LIMITS.get(model)
    if cached is not None:
        return cached
    from sqlalchemy import BigInteger, Integer, Numeric, SmallInteger, String, inspect

    out: dict[str, tuple[str, int | None, int]] = {}
    for attr in inspect(model).column_attrs:
        if len(attr.columns) != 1:
            continue
        col_type = attr.columns[0].type
        if isinstance(col_type, String):  # also Text (no length): NUL bytes still refused
            out[attr.key] = ("text", getattr(col_type, "length", None), 0)
        elif isinstance(col_type, Numeric) and not isinstance(col_type, (Integer,)):
            if col_type.precision is not None:
                scale = col_type.scale or 0
                out[attr.key] = ("number", col_type.precision - scale, scale)
        elif isinstance(col_type, Integer):
            top = 2**63 - 1 if isinstance(col_type, BigInteger) else 32767 if isinstance(col_type, SmallInteger) else 2**31 - 1
            out[attr.key] = ("int", top, 0)
    _LIMITS[model] = out
    return out


_LIMITS: dict[type, dict] = {}


def value_problem(model, name: str, value, label: str | None = None) -> str | None:
    """A message if ``value`` doesn't fit ``model``'s column ``name`` (see
    :func:`_limits`), else None. Values of other types and unknown names pass."""
    limit = _limits(model).get(name)
    if limit is None or value is None:
        return None
    kind, top, _scale = limit
    label = label or name.replace("_", " ").capitalize()
    if kind == "text" and isinstance(value, str):
        return text_problem(value, label, top)
    if kind == "number" and isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            return f"{label} must be a number."
        if top is not None and abs(number) >= Decimal(10) ** top:
            return f"{label} is too large: at most {top} digits before the decimal point."
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool) and not -top - 1 <= value <= top:
        return f"{label} is out of range (at most {top:,})."
    return None


def column_errors(model, values: dict, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Field errors for the ``values`` (``{attribute: parsed value}``) that don't fit
    ``model``'s columns: ``{attribute: message}`` (empty when all fit)."""
    labels = labels or {}
    errors = {}
    for name, value in values.items():
        problem = value_problem(model, name, value, labels.get(name))
        if problem:
            errors[name] = problem
    return errors


def row_errors(obj) -> dict[str, str]:
    """:func:`column_errors` for every limited column of the mapped object ``obj``.
    Runs at every flush over every new and changed row (a batch of flow runs writes
    thousands), so each value is first looked at with a cheap test and only a value
    that may not fit goes through :func:`value_problem` for its message."""
    model = type(obj)
    values = obj.__dict__
    suspect = {}
    for name, kind, top in _checks(model):
        value = values.get(name)
        if value is None:
            continue
        if kind == "text":
            if type(value) is str and ("\x00" in value or (top is not None and len(value) > top)):
                suspect[name] = value
        elif kind == "int":
            if type(value) is int and not -top - 1 <= value <= top:
                suspect[name] = value
        elif isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
            try:  # (NaN is the only value not equal to itself; a signaling NaN raises)
                if not value == value or abs(value) >= top:
                    suspect[name] = value
            except ArithmeticError:
                suspect[name] = value
    return column_errors(model, suspect) if suspect else {}


def _checks(model) -> tuple[tuple[str, str, Any], ...]:
    """``(attribute, kind, bound)`` per limited column of ``model`` for
    :func:`row_errors`'s quick test: text → its length (or None), int → its largest
    value, number → 10 ** digits before the decimal point."""
    cached = _CHECKS.get(model)
    if cached is None:
        cached = _CHECKS[model] = tuple(
            (name, kind, (Decimal(10) ** top if top is not None else Decimal("Infinity")) if kind == "number" else top)
            for name, (kind, top, _scale) in _limits(model).items())
    return cached


_CHECKS: dict[type, tuple] = {}


def loads_json(text: str, max_depth: int = MAX_JSON_DEPTH):
    """``json.loads(text)``, refusing JSON nested deeper than ``max_depth`` arrays /
    objects. Raises ValueError with a message for the user."""
    import json

    depth = deepest = 0
    in_string = escaped = False
    for ch in text:  # a cheap scan before parsing: no recursion on hostile input
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > max_depth:
                raise ValueError(f"The JSON is nested too deeply (more than {max_depth} levels).")
        elif ch in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"The JSON is nested too deeply (more than {max_depth} levels).") from None


def id_in(session, column, ids: list[int]):
    """``column IN ids`` as the database reads it fastest: on PostgreSQL one array
    parameter (``column = ANY(:ids)``: one statement text whatever the count, nothing
    rendered per id), elsewhere an expanding ``IN``. ``ids``: integers."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import Integer, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer), unique=True))
    return column.in_(ids)


#: A list page counts its rows up to this many; beyond it, it says "more than …"
#: instead of counting the whole table on every page.
COUNT_CAP = 1000


class CappedPage:
    """One page of a SELECT without ``count(*)`` over the whole result: the rows of
    page ``page`` (1-based, ``per_page`` each) and ``total`` counted up to
    :data:`COUNT_CAP` (``more`` is True when there are more than that; ``pages`` is
    then None). Offers what templates used from Flask-SQLAlchemy's pagination:
    ``items``, ``page``, ``pages``, ``total``, ``has_prev``/``has_next``,
    ``prev_num``/``next_num``.

    Two queries: the ids in the query's order, up to the cap (or to the end of the
    page, if that is further) — one pass over the matching rows, served by the same
    indexes, that both counts and places the page — then the page's rows by id
    (through ``rows``, when given, so a search isn't evaluated a second time)."""

    def __init__(self, session, query, page: int, per_page: int, rows=None, ids=None):
        """``query``: an ORM ``select()`` of one entity with an ORDER BY; ``rows``: a
        plain ``select()`` of the same entity (default: ``query``) that the page's
        rows are read through by id (their order is the ids'); ``ids``: a ``select()``
        of the ids alone in the query's order (default: ``query`` with only the id)."""
        self.page, self.per_page = max(page, 1), per_page
        rows_query = query if rows is None else rows
        key = query.column_descriptions[0]["entity"].id
        start, end = (self.page - 1) * per_page, self.page * per_page
        ids_query = query.with_only_columns(key) if ids is None else ids
        if session.new or session.dirty or session.deleted:
            session.flush()  # (what the ORM's autoflush would do)
        # plain ids: read through the connection, without the ORM's result processing
        # (half a millisecond less for a thousand ids)
        ids = session.connection().scalars(ids_query.limit(max(COUNT_CAP, end) + 1)).all()
        page_ids = ids[start:end]
        rows = {}
        if page_ids:
            rows = {r.id: r for r in session.scalars(rows_query.where(id_in(session, key, page_ids))).unique()}
        self.items = [rows[i] for i in page_ids if i in rows]
        self.has_next = len(ids) > end
        self.more = len(ids) > COUNT_CAP
        self.total = min(len(ids), COUNT_CAP)
        self.pages = None if self.more else max(-(-self.total // per_page), 1)
        self.has_prev = self.page > 1
        self.prev_num = self.page - 1 if self.has_prev else None
        self.next_num = self.page + 1 if self.has_next else None


def read_memo(session, key: tuple, load):
    """``load()``'s result, read once per ``key`` while nothing in ``session`` changes:
    a page asks the same questions several times (is the record restricted, has it a
    request under way, is Automate on) from the rules of each action it shows. The
    memo is kept only while the session has no pending change, and is dropped at every
    flush, commit and rollback and by every UPDATE, DELETE or INSERT run through the
    session (see :func:`_forget_read_memo`), so it never answers with something the database would no longer say in this transaction. ``key``: a
    tuple naming the question and its arguments."""
    if session.new or session.dirty or session.deleted:
        return load()
    memo = session.info.setdefault("read_memo", {})
    if key not in memo:
        memo[key] = load()
    return memo[key]


def _forget_read_memo(session, *_args) -> None:
    session.info.pop("read_memo", None)


def _listen_read_memo() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    for name in ("after_flush", "after_commit", "after_rollback", "after_soft_rollback"):
        event.listen(Session, name, _forget_read_memo)
    event.listen(Session, "do_orm_execute", _forget_read_memo_on_write)


def _forget_read_memo_on_write(state) -> None:
    """An UPDATE, DELETE or INSERT run through the session (``session.execute(update(…))``,
    which changes rows without a flush) drops the memo too."""
    if state.is_update or state.is_delete or state.is_insert:
        state.session.info.pop("read_memo", None)


_listen_read_memo()
