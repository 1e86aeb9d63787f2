"""Sandboxed rendering of user-editable templates (notification templates, flow
options such as a webhook body or a field value).

A Jinja2 ``SandboxedEnvironment`` subclass with limits (:class:`LimitedSandbox`): a
template reads the plain values it is given (dicts, lists, scalars) and nothing else —
no attributes of Python objects, no method calls, no imports or includes, a short list
of filters; ``range()`` is capped, ``*``, ``**``, ``+`` can't build huge strings,
lists or numbers, and a render stops when its output grows past
:data:`MAX_OUTPUT_CHARS` or it runs longer than :data:`TIME_LIMIT_SECONDS`. The same
environment and limits serve both moments:

- **save time**: :func:`check_template` parses the source, checks its syntax tree
  (unknown placeholders, attributes outside the offered data, method calls, loops
  without a fixed bound, recursive loops, huge constants) and renders it once against
  sample data under the limits; each problem comes back as a sentence;
- **send time**: :func:`render` streams the output (``Template.generate``) under the
  same size and time limits and raises :class:`TemplateRenderError` when one is hit.

Compiled templates are cached by source."""
from __future__ import annotations

import contextvars
import functools
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, Undefined, UndefinedError, nodes
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment, SecurityError

#: Most characters a rendered template may produce.
MAX_OUTPUT_CHARS = 200_000
#: Longest string or list an expression inside a template may build.
MAX_VALUE_LENGTH = 100_000
#: Most steps of one ``range()``.
MAX_RANGE = 1_000
#: Longest a render may run (seconds, wall clock).
TIME_LIMIT_SECONDS = 2.0
#: Longest template source accepted at save time (characters).
MAX_SOURCE_CHARS = 50_000
#: Largest number ``**`` may build (bits).
MAX_POWER_BITS = 256
#: Deepest nesting of ``for`` loops accepted at save time.
MAX_LOOP_NESTING = 3

SAFE_FILTERS = (
    "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "groupby",
    "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
    "replace", "reverse", "round", "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title",
    "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
)
#: Attributes of non-dict values a template may read (dates; loop variables are Jinja's own).
SAFE_ATTRIBUTES = frozenset({"year", "month", "day", "hour", "minute", "second"})


class TemplateRenderError(ValueError):
    """The template has a syntax error, uses an unknown placeholder, or broke a
    sandbox rule or limit (the message says which, in words)."""


class TemplateLimitError(TemplateRenderError):
    """A render was stopped by a size or time limit."""


@dataclass
class _Budget:
    deadline: float
    output: int = 0


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("render_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateLimitError(f"The template took longer than {TIME_LIMIT_SECONDS:g} seconds to render and was stopped.")


def _too_long(value: Any) -> bool:
    return isinstance(value, (str, list, tuple)) and len(value) > MAX_VALUE_LENGTH


def _size_error() -> TemplateLimitError:
    return TemplateLimitError(f"The template builds a value longer than {MAX_VALUE_LENGTH:,} characters and was stopped.")


class _Steps:
    """An iterator over a capped ``range()`` that checks the time limit at each step."""

    def __init__(self, r: range):
        self._it = iter(r)
        self._len = len(r)

    def __iter__(self):
        return self

    def __next__(self):
        _tick()
        return next(self._it)

    def __len__(self):
        return self._len


def limited_range(*args):
    """``range()`` for templates: at most :data:`MAX_RANGE` steps."""
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise TemplateLimitError(f"A loop over range() may have at most {MAX_RANGE:,} steps; this one has {len(r):,}.")
    return _Steps(r)


def _limited_filter(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _tick()
        result = fn(*args, **kwargs)
        if _too_long(result):
            raise _size_error()
        return result

    return wrapper


def _money(v) -> str:
    return f"{float(v or 0):,.2f}"


class LimitedSandbox(SandboxedEnvironment):
    """The sandbox with limits (see the module's docstring): values are plain data,
    only macros and ``range()`` can be called, operators and filters can't build
    values past :data:`MAX_VALUE_LENGTH`, and every call, operator and loop step checks
    the render's deadline."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        kept = {name: self.filters[name] for name in SAFE_FILTERS if name in self.filters}
        kept["money"] = _money
        self.filters = {name: _limited_filter(fn) for name, fn in kept.items()}
        self.tests = dict(self.tests)
        self.globals = {"range": limited_range}

    def call_binop(self, context, operator, left, right):
        _tick()
        if operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > MAX_POWER_BITS:
                raise TemplateLimitError(f"The template builds a number too large ({left} ** {right}).")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_VALUE_LENGTH:
                    raise _size_error()
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not available in templates.")
        result = super().call_binop(context, operator, left, right)
        if _too_long(result):
            raise _size_error()
        return result

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - jinja's signature
        _tick()
        if not (isinstance(__obj, Macro) or __obj is limited_range):
            name = getattr(__obj, "__name__", None)
            raise SecurityError("templates can't call methods or functions" + (f" (it calls {name}())." if name else "."))
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj, attribute):
        _tick()
        if isinstance(obj, Undefined):
            return getattr(obj, attribute)  # strict: "'x' is undefined"; the trial's chainable: undefined again
        if isinstance(obj, dict):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, (LoopContext, Macro)) or attribute in SAFE_ATTRIBUTES:
            return super().getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj, argument):
        _tick()
        if isinstance(obj, Undefined):
            return obj[argument]
        if isinstance(obj, dict) or (isinstance(obj, (list, tuple, str)) and isinstance(argument, (int, slice))):
            return super().getitem(obj, argument)
        return self.undefined(obj=obj, name=argument)


_html_env = LimitedSandbox(autoescape=True, undefined=StrictUndefined)
_text_env = LimitedSandbox(autoescape=False, undefined=StrictUndefined)
# the save-time trial render: unknown fields of the sample render as empty
_trial_html_env = LimitedSandbox(autoescape=True, undefined=ChainableUndefined)
_trial_text_env = LimitedSandbox(autoescape=False, undefined=ChainableUndefined)


def _env(html: bool, trial: bool = False) -> LimitedSandbox:
    if trial:
        return _trial_html_env if html else _trial_text_env
    return _html_env if html else _text_env


def render(source: str, context: dict, html: bool = True, time_limit: float | None = None) -> str:
    """Render ``source`` with ``context`` (plain dicts, lists and scalars); ``html``
    escapes values (bodies), ``html=False`` doesn't (subjects). The output is streamed
    and stopped past :data:`MAX_OUTPUT_CHARS` characters or ``time_limit`` seconds
    (default :data:`TIME_LIMIT_SECONDS`). Returns the text; raises
    :class:`TemplateRenderError` (:class:`TemplateLimitError` for a limit) with the
    reason in words."""
    return _render(_env(html), source, context, time_limit)


def _render(env: LimitedSandbox, source: str, context: dict, time_limit: float | None) -> str:
    budget = _Budget(time.monotonic() + (time_limit or TIME_LIMIT_SECONDS))
    token = _budget.set(budget)
    try:
        parts = []
        size = 0
        for chunk in _compiled(env, source).generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateLimitError(f"The template's output is longer than {MAX_OUTPUT_CHARS:,} characters and was stopped.")
            if time.monotonic() > budget.deadline:
                _tick()
            parts.append(chunk)
        return "".join(parts)
    except TemplateRenderError:
        raise
    except SecurityError as exc:
        raise TemplateRenderError(f"Not allowed in a template: {exc}") from exc
    except TemplateError as exc:
        raise TemplateRenderError(f"Template error: {_friendly(str(exc))}") from exc
    except RecursionError as exc:
        raise TemplateLimitError("The template calls itself too deeply and was stopped.") from exc
    except MemoryError as exc:
        raise TemplateLimitError("The template needs too much memory and was stopped.") from exc
    except Exception as exc:  # noqa: BLE001 - any other failure of a user's template is its problem
        if exc.__class__.__name__ == "JobTimeoutException":
            raise
        raise TemplateRenderError(f"Template error: {exc.__class__.__name__}: {exc}") from exc
    finally:
        _budget.reset(token)


def _friendly(message: str) -> str:
    return message.replace("'dict object' has no attribute", "there is no placeholder").replace("is undefined", "is not a placeholder")


@lru_cache(maxsize=512)
def _compiled(env: LimitedSandbox, source: str):
    """The compiled template for ``source`` (cached: a flow's templates compile once per
    worker). Raises jinja2's ``TemplateSyntaxError``."""
    return env.from_string(source)


# ---------------------------------------------------------------- save-time checks

def check_template(source: str, placeholders: dict[str, Any], sample: dict | None = None, html: bool = True,
                   label: str = "The template") -> list[str]:
    """Problems with a user's template ``source`` before it is saved (an empty list:
    fine). ``placeholders`` maps each top-level name the template may use to what may
    follow it: ``None`` (anything), a set of attribute names, or a dict of attribute
    name → the same again (nested). Checks, on the parsed syntax tree: syntax, size
    (:data:`MAX_SOURCE_CHARS`), unknown placeholders and attributes, attributes
    starting with ``_``, calls of methods or functions (only ``range()`` with constant
    bounds up to :data:`MAX_RANGE` and the template's own macros), recursive loops,
    loops nested deeper than :data:`MAX_LOOP_NESTING`, filters that aren't offered,
    ``extends`` / ``include`` / ``import``; then renders it once against ``sample``
    (unknown sample values render empty) under the send-time limits. Each problem is a
    sentence starting with ``label``."""
    if len(source) > MAX_SOURCE_CHARS:
        return [f"{label} is {len(source):,} characters long; at most {MAX_SOURCE_CHARS:,} are allowed."]
    env = _env(html, trial=True)
    try:
        tree = env.parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return [f"{label} has a syntax error{f' on line {line}' if line else ''}: {exc}."]
    problems = _Checker(placeholders, set(env.filters)).run(tree)
    if problems:
        return [f"{label} {p}" for p in problems]
    try:
        _render(env, source, sample or {}, None)
    except TemplateRenderError as exc:
        if isinstance(exc.__cause__, UndefinedError):
            return []  # a value the sample lacks (names were checked above): not the template's fault
        reason = str(exc).removeprefix("The template ")
        return [f"{label} failed its trial render with sample data: {reason[:1].lower() + reason[1:]}"]
    return []


class _Checker:
    """Walks a parsed template and collects problems (sentences without a subject)."""

    def __init__(self, placeholders: dict[str, Any], filters: set[str]):
        self.placeholders = placeholders
        self.filters = filters
        self.problems: list[str] = []
        self.local: set[str] = set()
        self.macros: set[str] = set()

    def add(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def run(self, tree: nodes.Template) -> list[str]:
        for node in tree.find_all((nodes.Name,)):
            if node.ctx in ("store", "param"):
                self.local.add(node.name)
        for node in tree.find_all((nodes.Macro,)):
            self.macros.add(node.name)
            self.local.add(node.name)
        for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            self.add(f"uses {node.__class__.__name__.lower()}: a template can't load other templates.")
        for node in tree.find_all((nodes.Name,)):
            if node.ctx == "load" and node.name not in self.placeholders and node.name not in self.local \
                    and node.name not in ("loop", "range", "caller", "varargs", "kwargs"):
                self.add(f"uses “{node.name}”, which is not a placeholder (offered: {', '.join(sorted(self.placeholders))}).")
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            self._attribute(node)
        for node in tree.find_all((nodes.Call,)):
            self._call(node)
        for node in tree.find_all((nodes.Filter,)):
            if node.name not in self.filters:
                self.add(f"uses the filter “{node.name}”, which is not available in templates.")
        for node in tree.find_all((nodes.For,)):
            if node.recursive:
                self.add("has a recursive loop, which is not allowed.")
        self._nesting(tree, 0)
        for node in tree.find_all((nodes.Mul, nodes.Pow)):
            self._constant_size(node)
        return self.problems

    def _path(self, node) -> list[str] | None:
        """``record.name`` → ["record", "name"]; None when not a plain name path."""
        if isinstance(node, nodes.Name):
            return [node.name]
        if isinstance(node, nodes.Getattr):
            base = self._path(node.node)
            return base + [node.attr] if base is not None else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            base = self._path(node.node)
            return base + [node.arg.value] if base is not None else None
        return None

    def _attribute(self, node) -> None:
        name = node.attr if isinstance(node, nodes.Getattr) else (
            node.arg.value if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) else None)
        if name is not None and name.startswith("_"):
            self.add(f"reads “{name}”: names starting with _ are not offered to templates.")
            return
        path = self._path(node)
        if not path or path[0] in self.local or path[0] not in self.placeholders:
            return
        spec: Any = self.placeholders[path[0]]
        for i, part in enumerate(path[1:], start=1):
            if spec is None:
                return
            if part not in spec:
                offered = ", ".join(sorted(spec)) if len(spec) <= 40 else "its fields"
                self.add(f"reads “{'.'.join(path[:i + 1])}”, which is outside the offered data ({'.'.join(path[:i])} offers {offered}).")
                return
            spec = spec[part] if isinstance(spec, dict) else None

    def _call(self, node: nodes.Call) -> None:
        callee = node.node
        if isinstance(callee, nodes.Name) and callee.name in self.macros:
            return
        if isinstance(callee, nodes.Name) and callee.name == "caller":
            return
        if isinstance(callee, nodes.Name) and callee.name == "range":
            values = [a.value if isinstance(a, nodes.Const) else None for a in node.args]
            if node.kwargs or node.dyn_args or node.dyn_kwargs or not values or any(not isinstance(v, int) for v in values):
                self.add("loops over range() without a fixed bound: give range() whole numbers, e.g. range(5).")
                return
            try:
                steps = len(range(*values))
            except (TypeError, ValueError):
                self.add("calls range() with arguments it can't take.")
                return
            if steps > MAX_RANGE:
                self.add(f"loops over range() with {steps:,} steps; at most {MAX_RANGE:,} are allowed.")
            return
        what = self._path(callee)
        shown = ".".join(what) if what else "a value"
        self.add(f"calls {shown}(): templates can't call methods or functions (use filters, e.g. {{{{ value|upper }}}}).")

    def _nesting(self, node, depth: int) -> None:
        for child in node.iter_child_nodes():
            d = depth + 1 if isinstance(child, nodes.For) else depth
            if d > MAX_LOOP_NESTING:
                self.add(f"nests loops {d} deep; at most {MAX_LOOP_NESTING} are allowed.")
                return
            self._nesting(child, d)

    def _constant_size(self, node) -> None:
        try:
            left = node.left.as_const()
            right = node.right.as_const()
        except nodes.Impossible:
            return
        if isinstance(node, nodes.Pow):
            if isinstance(left, (int, float)) and isinstance(right, (int, float)) and abs(left) > 1 and right > 0 \
                    and right * math.log2(abs(left)) > MAX_POWER_BITS:
                self.add(f"builds a huge number ({left} ** {right}).")
            return
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_VALUE_LENGTH:
                self.add(f"builds a huge string or list (more than {MAX_VALUE_LENGTH:,} characters).")


def record_context(session, record_type: str | None, record: Any, needs: str | None = None) -> dict:
    """Plain values for templates: ``{"record": {field: value, ..., "title": ...}}``
    plus ``record.lines`` (a list of the lines' field values, documents only) and what
    the record type's context provider adds (e.g. a customer's ``open_orders``; see
    :data:`portal.workflow.catalog.CONTEXT_PROVIDERS`) — each only when ``needs`` (the
    template source about to be rendered) names it, or when ``needs`` is None. A
    missing record gives ``{"record": {"title": "", "lines": []}}``."""
    from portal.workflow.catalog import CONTEXT_PROVIDERS, RECORD_TYPES

    if record is None or record_type not in RECORD_TYPES:
        return {"record": {"title": "", "lines": []}}
    rt = RECORD_TYPES[record_type]
    values = dict(rt.values(record))
    values["title"] = rt.title(record)
    if needs is None or "lines" in needs:  # (a record type without lines has none)
        values["lines"] = [{f.name: f.value(line) for f in rt.line_fields} for line in (getattr(record, "lines", None) or [])] \
            if rt.line_fields else []
    ctx: dict = {"record": values}
    provider = CONTEXT_PROVIDERS.get(record_type)
    if provider is not None and (needs is None or any(name in needs for name in provider.names)):
        ctx.update(provider(session, record))
    return ctx


def record_placeholders() -> dict:
    """What ``record`` offers templates, over every record type: its fields, ``title``
    and ``lines`` (each line's fields) — for :func:`check_template`."""
    from portal.workflow.catalog import RECORD_TYPES

    fields: dict[str, Any] = {"title": None}
    line_fields: set[str] = set()
    for rt in RECORD_TYPES.values():
        for f in rt.fields:
            fields[f.name] = None
        line_fields |= {f.name for f in rt.line_fields}
    fields["lines"] = None  # a list: its items are loop variables (checked at render)
    return fields


_SAMPLE_BY_KIND = {"money": 100.0, "decimal": 1.0, "int": 1, "bool": False, "date": "2026-01-31", "datetime": "2026-01-31 12:00"}


def sample_record() -> dict:
    """Sample values for every field of every record type (by kind: numbers 1 or 100,
    dates, empty texts), ``title`` and one line with every line field — the record of
    save-time trial renders."""
    from portal.workflow.catalog import RECORD_TYPES

    values: dict[str, Any] = {}
    line: dict[str, Any] = {}
    for rt in RECORD_TYPES.values():
        for f in rt.fields:
            values.setdefault(f.name, _SAMPLE_BY_KIND.get(f.kind, ""))
        for f in rt.line_fields:
            line.setdefault(f.name, _SAMPLE_BY_KIND.get(f.kind, ""))
    values.update(title="Sample record", lines=[line])
    return values


def flow_placeholders() -> dict:
    """The placeholders of a flow's option templates (webhook body, field value, message):
    ``record``, ``inputs``, ``event``, ``steps`` (earlier responses' outputs),
    ``trigger`` (``trigger.body``: the JSON body of an HTTP request that started the
    flow) and the record types' extra values."""
    from portal.workflow.catalog import CONTEXT_PROVIDERS

    out: dict[str, Any] = {"record": record_placeholders(), "inputs": None, "steps": None,
                           "event": {"old_values": None, "new_values": None, "comment": None, "body": None},
                           "trigger": {"body": None}}
    for provider in CONTEXT_PROVIDERS.values():
        for name in provider.names:
            out[name] = None
    return out
