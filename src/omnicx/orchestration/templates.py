"""Message templates: Jinja2 in a sandbox, one variant per channel and language, checked when
they are saved and when a journey that sends them is published, so that a missing variable is
found by the person who wrote it, not at send time by a customer's empty message.

    variant       (channel or *, language or *), each with what its channel shows:
                    email      subject, html and text
                    sms        text (its segment count in the preview)
                    whatsapp   text, or a provider template {name, language, params}
                    push       title (the subject) and body (the text)
                    others     text
    choice        the channel's own variant in the customer's language (pt-br, then pt) or
                  in any language (*); then the any-channel variant the same way; then both
                  again in the default language (en)
    variables     customer.{id, name, first_name, last_name, email, phone}    every send
                  traits.<trait>                                             every send
                  journey.{id, version, node}                                journey sends
                  event.<property>                                           journeys entered
                                                                             on an event
                  <name>                                                     the send's own
    rendering     Jinja2's ImmutableSandboxedEnvironment: no attribute starting with "_", no
                  mutation, bounded output; a name nobody provides is an error, a trait or
                  event property the customer lacks renders empty (`| default("…")` fills
                  it); HTML is auto-escaped; None renders empty
    localisation  filters in the message's language: number, currency, date, datetime
    SMS           GSM-7 (extension characters such as € count twice): 160, or 153 a part;
                  anything else UCS-2: 70, or 67 a part (an emoji counts twice)

Everything here is pure: the wired side (`orchestration.sending`, the conductor's publish
check, the preview API) hands in the variants and the customer.
"""

import codecs
import importlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2 import meta as jinja_meta
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context

from omnicx.conversations.model import Template as ProviderTemplate
from omnicx.kernel import Invalid
from omnicx.orchestration.gate import Content, TemplateVariant
from omnicx.orchestration.journeys import Definition, EventTrigger, Problem, Send

importlib.import_module("gsm0338")  # registers the "gsm03.38" codec
_GSM = codecs.lookup("gsm03.38")

CUSTOMER_FIELDS: tuple[str, ...] = ("id", "name", "first_name", "last_name", "email", "phone")
"""What `customer` holds in every template."""
JOURNEY_FIELDS: tuple[str, ...] = ("id", "version", "node")
"""What `journey` holds in a journey's sends."""
OPEN_ROOTS = ("traits", "event")
"""Objects whose every key may be asked for: a missing one renders empty."""

MAX_SOURCE = 100_000
MAX_OUTPUT = 1_000_000
"""Characters a rendered part may reach; past that rendering stops with an error."""
MAX_REPEAT = 100_000
"""The longest text or list `*` may build, and the largest exponent `**` may use is 100."""

DEFAULT_LANGUAGE = "en"
PARTS: tuple[str, ...] = ("subject", "text", "html")

Path = tuple[str, ...]


# -- the sandbox ---------------------------------------------------------------------------------


def _none_empty(value: Any) -> Any:
    return "" if value is None else value


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, which also bounds `*` and `**`."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError("an exponent above 100 is not allowed in a template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_REPEAT
                ):
                    raise SecurityError(
                        f"repeating beyond {MAX_REPEAT} items is not allowed in a template"
                    )
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """A key before a method: `event.items` is the event's items, not `dict.items`."""
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


class _Marker(ChainableUndefined):
    """What the preview shows for a variable that has no value: `{{ event.total }}`."""

    __slots__ = ()

    def __str__(self) -> str:
        return "{{ " + str(self._undefined_name or "?") + " }}"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Marker(name=f"{self._undefined_name}.{name}")

    def __getitem__(self, key: Any) -> Any:
        return self.__getattr__(str(key))


@lru_cache(maxsize=4)
def _env(html: bool, preview: bool) -> _Sandbox:
    env = _Sandbox(
        autoescape=html,
        undefined=_Marker if preview else StrictUndefined,
        finalize=_none_empty,
        keep_trailing_newline=True,
    )
    env.filters.update(number=_number, currency=_currency, date=_date, datetime=_datetime)
    return env


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool, preview: bool) -> Template:
    return _env(html, preview).from_string(source)


class _Open(dict[str, Any]):
    """A mapping whose missing keys render empty (or as a marker in a preview)."""

    __slots__ = ("_marker", "_path")

    def __init__(self, data: Mapping[str, Any], path: str, marker: bool) -> None:
        super().__init__(data)
        self._path = path
        self._marker = marker

    def __missing__(self, key: str) -> Any:
        name = f"{self._path}.{key}"
        return _Marker(name=name) if self._marker else ChainableUndefined(name=name)


def _open(value: Any, path: str, marker: bool) -> Any:
    if isinstance(value, Mapping):
        return _Open(
            {str(k): _open(v, f"{path}.{k}", marker) for k, v in value.items()}, path, marker
        )
    if isinstance(value, list | tuple):
        return [_open(v, f"{path}[]", marker) for v in value]
    return value


# -- localisation ----------------------------------------------------------------------------


def _locale(context: Context) -> Locale:
    tag = context.get("_language") or DEFAULT_LANGUAGE
    try:
        return Locale.parse(str(tag).replace("_", "-"), sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LANGUAGE)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, Undefined):
        raise ValueError(f"{value!r} is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


@pass_context
def _number(context: Context, value: Any, digits: int | None = None) -> str:
    number = _decimal(value)
    pattern = None if digits is None else "#,##0." + "0" * digits if digits > 0 else "#,##0"
    return str(format_decimal(number, format=pattern, locale=_locale(context)))


@pass_context
def _currency(context: Context, value: Any, code: str = "BRL") -> str:
    return str(format_currency(_decimal(value), str(code).upper(), locale=_locale(context)))


def _moment(value: Any) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date")


@pass_context
def _date(context: Context, value: Any, format: str = "medium") -> str:
    moment = _moment(value)
    if isinstance(moment, datetime):
        moment = moment.astimezone(_zone(context)).date() if moment.tzinfo else moment.date()
    return str(format_date(moment, format=format, locale=_locale(context)))


@pass_context
def _datetime(context: Context, value: Any, format: str = "medium") -> str:
    moment = _moment(value)
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, datetime.min.time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(
        format_datetime(moment, format=format, tzinfo=_zone(context), locale=_locale(context))
    )


def _zone(context: Context) -> ZoneInfo:
    name = context.get("_time_zone")
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# -- what a template needs ---------------------------------------------------------------------


def _parse(source: str, where: str) -> nodes.Template:
    if len(source) > MAX_SOURCE:
        raise Invalid(
            "template_too_long", f"{where}: at most {MAX_SOURCE} characters", where
        ) from None
    try:
        return _env(False, False).parse(source)
    except TemplateSyntaxError as error:
        raise Invalid(
            "invalid_template", f"{where}: line {error.lineno}: {error.message}", where
        ) from None


def _chain(node: nodes.Node) -> tuple[Path, nodes.Node, list[nodes.Node]]:
    """A chain `a.b["c"][x].d`: the constant path from its base, its base, and the dynamic
    subscripts to look into."""
    parts: list[str] = []
    dynamic: list[nodes.Node] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                parts.append(arg.value)
            else:
                dynamic.append(arg)
                parts.clear()
            node = node.node
        else:
            return tuple(reversed(parts)), node, dynamic


_OPTIONAL_FILTERS = frozenset({"default", "d"})
_OPTIONAL_TESTS = frozenset({"defined", "undefined", "none"})


def _reach(tree: nodes.Template, where: str) -> set[Path]:
    """Every variable path the template reads from outside, except those it guards with
    `default` or `is defined`; refuses a reach for an attribute starting with "_"."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            raise Invalid(
                "unsafe_template",
                f"{where}: a template may not reach {name!r}: names starting with _ are "
                "Python's internals, closed to templates",
                where,
            )
    roots = jinja_meta.find_undeclared_variables(tree)
    found: set[Path] = set()

    def visit(node: nodes.Node, optional: bool = False) -> None:
        if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
            path, base, dynamic = _chain(node)
            if isinstance(base, nodes.Name):
                if base.ctx == "load" and base.name in roots and not optional:
                    found.add((base.name, *path))
            else:
                visit(base)
            for sub in dynamic:
                visit(sub)
            return
        if (
            isinstance(node, nodes.Filter | nodes.Test)
            and node.name in (_OPTIONAL_FILTERS | _OPTIONAL_TESTS)
            and node.node is not None
        ):
            visit(node.node, optional=True)
            for child in node.iter_child_nodes(exclude=("node",)):
                visit(child)
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return found


def _closed_check(paths: set[Path], where: str) -> None:
    for path in sorted(paths):
        for root, fields in (("customer", CUSTOMER_FIELDS), ("journey", JOURNEY_FIELDS)):
            if path[0] == root and len(path) > 1 and path[1] not in fields:
                raise Invalid(
                    "unknown_variable",
                    f"{where}: {{{{ {'.'.join(path[:2])} }}}} does not exist; {root} holds "
                    f"{', '.join(fields)}",
                    where,
                )


def needs(source: str, where: str = "template") -> set[Path]:
    """The variables `source` reads, as paths (("event", "total"),), after checking that it
    parses and reaches for nothing closed to it (Invalid, naming `where`)."""
    paths = _reach(_parse(source, where), where)
    _closed_check(paths, where)
    return paths


def check_source(source: str, where: str) -> None:
    needs(source, where)


def variant_parts(variant: TemplateVariant) -> Iterator[tuple[str, str]]:
    """(part, source) of every Jinja2 source of a variant; the provider template's params as
    `provider_template.params[i]`."""
    for part in PARTS:
        source = getattr(variant, part)
        if source is not None:
            yield part, source
    spec = variant.provider_template
    if spec:
        for i, param in enumerate(spec.get("params") or ()):
            yield f"provider_template.params[{i}]", str(param)


def variant_needs(variant: TemplateVariant, where: str = "variant") -> dict[str, set[Path]]:
    return {part: needs(source, f"{where}.{part}") for part, source in variant_parts(variant)}


def show(path: Path) -> str:
    return ".".join(path)


# -- what a sender provides ----------------------------------------------------------------------


@dataclass(frozen=True)
class Provided:
    """The variables a kind of send gives its templates: objects with a closed list of fields,
    open objects, and the send's own names."""

    closed: Mapping[str, tuple[str, ...]]
    open: frozenset[str]
    names: frozenset[str] = frozenset()
    event_note: str = "only a journey entered on an event provides event"

    def lacks(self, path: Path) -> str | None:
        """Why `path` cannot be filled, or None when it can."""
        root = path[0]
        if root in self.closed:
            fields = self.closed[root]
            if len(path) > 1 and path[1] not in fields:
                return f"{root} holds {', '.join(fields)}"
            return None
        if root in self.open or root in self.names:
            return None
        if root == "event":
            return self.event_note
        if root == "journey":
            return "only a journey's sends provide journey"
        return (
            f"nothing provides {root}: not a customer field, a trait, a journey field, an "
            "event property or one of the send's variables"
        )


def for_journey(trigger: object, variables: Mapping[str, Any]) -> Provided:
    """What a journey's send node provides: the customer, their traits, the journey, the
    entering event's properties (event-triggered journeys) and the node's variables."""
    opened = {"traits"} | ({"event"} if isinstance(trigger, EventTrigger) else set())
    note = (
        "this journey is not entered on an event, so there is no event to read"
        if not isinstance(trigger, EventTrigger)
        else ""
    )
    return Provided(
        closed={"customer": CUSTOMER_FIELDS, "journey": JOURNEY_FIELDS},
        open=frozenset(opened),
        names=frozenset(str(k) for k in variables),
        event_note=note,
    )


def for_send(variables: Mapping[str, Any]) -> Provided:
    """What any other send provides (a broadcast, an agent's or the system's): the customer,
    their traits and the send's variables."""
    return Provided(
        closed={"customer": CUSTOMER_FIELDS},
        open=frozenset({"traits"}),
        names=frozenset(str(k) for k in variables),
        event_note="only a journey entered on an event provides event, or pass event in "
        "the send's variables",
    )


def lacking(variants: Sequence[TemplateVariant], provided: Provided) -> list[tuple[str, str]]:
    """(where, message) of every variable some variant needs and `provided` cannot fill."""
    found: list[tuple[str, str]] = []
    for v in variants:
        for part, paths in variant_needs(v, "variant").items():
            for path in sorted(paths):
                why = provided.lacks(path)
                if why is not None:
                    where = f"({v.channel}, {v.language}) {part}"
                    found.append((where, f"{{{{ {show(path)} }}}}, but {why}"))
    return found


def check_provided(
    content: Content, variants: Sequence[TemplateVariant], provided: Provided
) -> None:
    """Refuse content (its literal parts and its template's variants) that reads a variable
    `provided` cannot fill: the first one, named with its variant and part."""
    for part in PARTS:
        source = getattr(content, part)
        if source is None:
            continue
        for path in sorted(needs(source, f"content.{part}")):
            why = provided.lacks(path)
            if why is not None:
                raise Invalid(
                    "missing_variable",
                    f"content.{part} uses {{{{ {show(path)} }}}}, but {why}",
                    f"content.{part}",
                )
    for where, message in lacking(variants, provided):
        raise Invalid(
            "missing_variable",
            f"template {content.template!r} {where} uses {message}",
            "content.template",
        )


def journey_problems(
    definition: Definition, variants_of: Callable[[str], Sequence[TemplateVariant]]
) -> list[Problem]:
    """What keeps a journey's send nodes from rendering: a template that does not exist or
    has no variant for a channel the node names, a variable the journey does not provide,
    literal content that does not parse."""
    problems: list[Problem] = []
    for node_id, node in definition.nodes.items():
        if not isinstance(node, Send):
            continue
        base = f"nodes.{node_id}.content"
        content = node.content
        variables = content.get("variables")
        provided = for_journey(
            definition.trigger, variables if isinstance(variables, Mapping) else {}
        )
        for part in PARTS:
            source = content.get(part)
            if not isinstance(source, str):
                continue
            try:
                paths = needs(source, f"{base}.{part}")
            except Invalid as error:
                problems.append(Problem(f"{base}.{part}", _after(error.message, f"{base}.{part}")))
                continue
            for path in sorted(paths):
                why = provided.lacks(path)
                if why is not None:
                    problems.append(
                        Problem(f"{base}.{part}", f"uses {{{{ {show(path)} }}}}, but {why}")
                    )
        name = content.get("template")
        if not isinstance(name, str):
            continue
        where = f"{base}.template"
        variants = list(variants_of(name))
        if not variants:
            problems.append(Problem(where, f"no template is named {name!r}"))
            continue
        for channel in node.channels:
            if not any(v.channel in (channel, "*") for v in variants):
                problems.append(
                    Problem(where, f"template {name!r} has no variant for {channel} (nor for *)")
                )
        for v in variants:
            if node.channels and v.channel not in (*node.channels, "*"):
                continue  # a variant for a channel this node never sends on
            label = f"template {name!r} ({v.channel}, {v.language})"
            try:
                parts = variant_needs(v, "variant")
            except Invalid as error:
                problems.append(Problem(where, f"{label}: {error.message}"))
                continue
            for part, paths in parts.items():
                for path in sorted(paths):
                    why = provided.lacks(path)
                    if why is not None:
                        problems.append(
                            Problem(where, f"{label} {part} uses {{{{ {show(path)} }}}}, but {why}")
                        )
    return problems


def _after(message: str, prefix: str) -> str:
    return message[len(prefix) + 2 :] if message.startswith(prefix + ": ") else message


# -- choosing a variant --------------------------------------------------------------------------

_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def language_chain(language: str | None, default: str = DEFAULT_LANGUAGE) -> list[str]:
    """The languages to try, most specific first: pt-BR → pt-br, pt; then the default's."""
    chain: list[str] = []
    for tag in (language, default):
        if not tag or not _TAG.match(tag):
            continue
        tag = tag.replace("_", "-").lower()
        chain.append(tag)
        if "-" in tag:
            chain.append(tag.split("-")[0])
    return list(dict.fromkeys(chain))


def choose_variant(
    variants: Sequence[TemplateVariant],
    channel: str,
    language: str | None,
    default: str = DEFAULT_LANGUAGE,
) -> TemplateVariant | None:
    """The channel's own variant in the customer's language or in any language, then the
    any-channel variant likewise, then both in the default language."""
    by_key = {(v.channel, v.language.lower()): v for v in variants}
    own = [*language_chain(language, language or default), "*"]
    fallback = [t for t in language_chain(default, default) if t not in own]
    for tags in (own, fallback):
        for wanted in (channel, "*"):
            for tag in tags:
                found = by_key.get((wanted, tag))
                if found is not None:
                    return found
    return None


# -- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    text: str | None
    subject: str | None
    html: str | None
    template: ProviderTemplate | None
    variant: tuple[str, str] | None = None
    """(channel, language) of the variant used; None for literal content."""


def context_for(
    *,
    customer: Mapping[str, Any],
    traits: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    origin: str = "",
    language: str | None = None,
    time_zone: str | None = None,
    preview: bool = False,
) -> dict[str, Any]:
    """The variables a send's templates see: its own, then the customer, their traits and
    the journey (from `origin`), which a send's variables cannot replace."""
    context: dict[str, Any] = {
        str(k): _open(v, str(k), preview) for k, v in (variables or {}).items()
    }
    known = {k: customer.get(k) for k in CUSTOMER_FIELDS} if customer or not preview else {}
    context["customer"] = _open(known, "customer", preview)
    context["traits"] = _open(dict(traits or {}), "traits", preview)
    journey = journey_of(origin)
    if journey is not None:
        context["journey"] = _open(journey, "journey", preview)
    context["_language"] = language or DEFAULT_LANGUAGE
    context["_time_zone"] = time_zone
    return context


_JOURNEY_ORIGIN = re.compile(r"^journey:(?P<id>[^:]+):v(?P<version>\d+):(?P<node>.+)$")


def journey_of(origin: str) -> dict[str, Any] | None:
    found = _JOURNEY_ORIGIN.match(origin or "")
    if found is None:
        return None
    return {"id": found["id"], "version": int(found["version"]), "node": found["node"]}


def render_source(
    source: str | None,
    context: Mapping[str, Any],
    *,
    html: bool = False,
    where: str = "content",
    preview: bool = False,
) -> str | None:
    """`source` rendered in the sandbox; every failure is `Invalid` naming `where`."""
    if source is None:
        return None
    try:
        compiled = _compiled(source, html, preview)
        out: list[str] = []
        size = 0
        for piece in compiled.generate(context):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise Invalid(
                    "template_too_long",
                    f"{where}: the rendered text passes {MAX_OUTPUT} characters",
                    where,
                )
            out.append(piece)
        return "".join(out)
    except UndefinedError as error:
        raise Invalid("missing_variable", f"{where}: {error.message}", where) from None
    except SecurityError as error:
        raise Invalid("unsafe_template", f"{where}: {error}", where) from None
    except TemplateSyntaxError as error:
        raise Invalid(
            "invalid_template", f"{where}: line {error.lineno}: {error.message}", where
        ) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise Invalid(
            "invalid_template", f"{where}: the template cannot be rendered: {error}", where
        ) from None


def render_variant(
    variant: TemplateVariant | None,
    content: Content,
    context: Mapping[str, Any],
    language: str | None,
    *,
    default_language: str = DEFAULT_LANGUAGE,
    preview: bool = False,
) -> Rendered:
    """`variant`'s parts over the literal content's (or the literal content alone)."""
    text, subject, html = content.text, content.subject, content.html
    provider: ProviderTemplate | None = None
    chosen: tuple[str, str] | None = None
    where = "content"
    if variant is not None:
        chosen = (variant.channel, variant.language)
        where = f"template {content.template!r} ({variant.channel}, {variant.language})"
        text = variant.text if variant.text is not None else text
        subject = variant.subject if variant.subject is not None else subject
        html = variant.html if variant.html is not None else html
        if variant.provider_template:
            spec = variant.provider_template
            params = tuple(
                render_source(str(p), context, where=f"{where} param {i + 1}", preview=preview)
                or ""
                for i, p in enumerate(spec.get("params") or ())
            )
            provider = ProviderTemplate(
                str(spec["name"]), str(spec.get("language") or language or default_language), params
            )
    return Rendered(
        text=render_source(text, context, where=f"{where} text", preview=preview),
        subject=render_source(subject, context, where=f"{where} subject", preview=preview),
        html=render_source(html, context, html=True, where=f"{where} html", preview=preview),
        template=provider,
        variant=chosen,
    )


def render(
    content: Content,
    variants: Sequence[TemplateVariant],
    channel: str,
    language: str | None,
    context: Mapping[str, Any],
    *,
    default_language: str = DEFAULT_LANGUAGE,
    preview: bool = False,
) -> Rendered:
    """The message for `channel`: the named template's variant (its parts over the literal
    content's) or the literal content, rendered with `context` (see `context_for`)."""
    variant: TemplateVariant | None = None
    if content.template is not None:
        variant = choose_variant(variants, channel, language, default_language)
        if variant is None:
            raise Invalid(
                "unknown_template",
                f"template {content.template!r} has no variant for {channel} in "
                f"{language or default_language}",
                "content.template",
            )
    rendered = render_variant(
        variant,
        content,
        context,
        language,
        default_language=default_language,
        preview=preview,
    )
    return for_channel(rendered, channel)


def for_channel(rendered: Rendered, channel: str) -> Rendered:
    """An SMS's text with the no-break spaces of formatted numbers and money made plain: one
    U+00A0 would turn the whole message into UCS-2 and halve what a segment holds."""
    if channel == "sms" and rendered.text is not None:
        return replace(rendered, text=rendered.text.translate(_PLAIN_SPACES))
    return rendered


_PLAIN_SPACES = {0x00A0: " ", 0x202F: " ", 0x2007: " "}


def resolves(path: Path, context: Mapping[str, Any]) -> bool:
    """Whether `context` holds a value (not None) at `path`."""
    value: Any = context
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return value is not None


# -- checking variants ---------------------------------------------------------------------------

_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def check_variants(variants: Sequence[TemplateVariant]) -> None:
    """Refuse a set of variants that cannot be saved, naming the field: none, two for one
    channel and language, a bad channel or language, an empty one, a source that does not
    parse or reaches for what is closed to templates, a provider template without a name."""
    if not variants:
        raise Invalid("no_variants", "a template needs at least one variant", "variants")
    seen: set[tuple[str, str]] = set()
    for i, v in enumerate(variants):
        where = f"variants[{i}]"
        key = (v.channel, v.language.lower())
        if key in seen:
            raise Invalid(
                "duplicate_variant",
                f"{where}: a second variant for {v.channel} in {v.language}",
                where,
            )
        seen.add(key)
        if v.channel != "*" and not _CHANNEL.match(v.channel):
            raise Invalid("invalid_channel", f"{where}.channel: a channel name or *", where)
        if v.language != "*" and not _TAG.match(v.language):
            raise Invalid(
                "invalid_language",
                f"{where}.language: a language tag (en, pt-BR, es) or *",
                where,
            )
        if not (v.text or v.html or v.provider_template):
            raise Invalid(
                "empty_variant", f"{where}: needs a text, an html or a provider template", where
            )
        spec = v.provider_template
        if spec is not None:
            params = spec.get("params")
            if not isinstance(spec.get("name"), str) or not spec["name"]:
                raise Invalid(
                    "invalid_provider_template",
                    f"{where}.provider_template: needs a name",
                    f"{where}.provider_template",
                )
            if params is not None and not isinstance(params, list | tuple):
                raise Invalid(
                    "invalid_provider_template",
                    f"{where}.provider_template.params: a list of texts",
                    f"{where}.provider_template.params",
                )
        variant_needs(v, where)


# -- engagement --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """An open ("read") or a click ("clicked") of one of a send's messages."""

    id: int
    send_ref: str
    message_id: str
    customer_id: str
    channel: str
    kind: Literal["read", "clicked"]
    link: str | None
    """Where a click led."""
    at: datetime


# -- SMS -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsSize:
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    segments: int
    per_segment: int
    """Units a segment holds: 160 or 70 alone, 153 or 67 in a longer message."""


def sms_size(text: str) -> SmsSize:
    """How an SMS is encoded and how many segments it takes. A character of GSM-7's
    extension table (€ [ ] { } ~ ^ | \\) takes two septets, and neither it nor an emoji's two
    UTF-16 units is split between two segments."""
    try:
        widths = [len(_GSM.encode(ch)[0]) for ch in text]
        encoding: Literal["GSM-7", "UCS-2"] = "GSM-7"
        single, part = 160, 153
    except UnicodeEncodeError:
        widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        encoding = "UCS-2"
        single, part = 70, 67
    units = sum(widths)
    if units == 0:
        return SmsSize(encoding, 0, 0, 0, single)
    if units <= single:
        return SmsSize(encoding, len(text), units, 1, single)
    segments, used = 1, 0
    for width in widths:
        if used + width > part:
            segments += 1
            used = 0
        used += width
    return SmsSize(encoding, len(text), units, segments, part)


# -- preview ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewItem:
    channel: str
    variant: TemplateVariant
    rendered: Rendered
    sms: SmsSize | None


@dataclass(frozen=True)
class Preview:
    language: str
    items: tuple[PreviewItem, ...]
    uses: tuple[str, ...]
    """Every variable the rendered variants read."""
    missing: tuple[str, ...]
    """Those without a value in the preview's context (shown as `{{ name }}`)."""


def preview(
    name: str | None,
    variants: Sequence[TemplateVariant],
    context: Mapping[str, Any],
    *,
    channel: str | None,
    language: str,
    default_language: str = DEFAULT_LANGUAGE,
) -> Preview:
    """Render what `channel` would get (or every variant) with `context`, built by
    `context_for(..., preview=True)`; variables without a value show as `{{ name }}`."""
    content = Content(template=name or "preview")
    if channel is not None:
        if not _CHANNEL.match(channel):
            raise Invalid("invalid_channel", f"{channel!r} is not a channel name", "channel")
        chosen = choose_variant(variants, channel, language, default_language)
        if chosen is None:
            raise Invalid(
                "no_variant",
                f"template {content.template!r} has no variant for {channel} in {language}",
                "channel",
            )
        targets = [(channel, chosen)]
    else:
        targets = [(v.channel, v) for v in variants]
    items: list[PreviewItem] = []
    uses: set[Path] = set()
    for target, variant in targets:
        for paths in variant_needs(variant, f"{variant.channel}/{variant.language}").values():
            uses |= paths
        rendered = render_variant(
            variant, content, context, language, default_language=default_language, preview=True
        )
        rendered = for_channel(rendered, target)
        sms = sms_size(rendered.text) if target == "sms" and rendered.text is not None else None
        items.append(PreviewItem(target, variant, rendered, sms))
    return Preview(
        language=language,
        items=tuple(items),
        uses=tuple(show(p) for p in sorted(uses)),
        missing=tuple(show(p) for p in sorted(uses) if not resolves(p, context)),
    )
