"""Message templates without a database: choosing a variant by channel and language, rendering
in the sandbox with customer, trait, event and journey variables, what a template needs and
what a sender provides, localisation filters, and SMS segment counts."""

from datetime import UTC, datetime
from typing import Any

import pytest

from omnicx.kernel import Invalid
from omnicx.orchestration import templates
from omnicx.orchestration.gate import Content, TemplateVariant
from omnicx.orchestration.journeys import parse_definition
from omnicx.orchestration.templates import (
    check_variants,
    choose_variant,
    context_for,
    for_journey,
    for_send,
    journey_problems,
    language_chain,
    needs,
    render,
    render_source,
    sms_size,
)

ANA = {
    "id": "c-1",
    "name": "Ana Souza",
    "first_name": "Ana",
    "last_name": "Souza",
    "email": "ana@example.com",
    "phone": "+5511988887777",
}


def variant(channel: str, language: str, **parts: Any) -> TemplateVariant:
    return TemplateVariant("promo", channel, language, **parts)


VARIANTS = [
    variant("*", "en", text="Hello"),
    variant("*", "pt", text="Olá"),
    variant("*", "es", text="Hola"),
    variant("email", "en", subject="Hi", html="<p>Hello</p>"),
    variant("email", "pt-br", subject="Oi", html="<p>Olá</p>"),
    variant("whatsapp", "*", provider_template={"name": "promo", "params": ["{{ code }}"]}),
]


def chosen(channel: str, language: str | None) -> tuple[str, str] | None:
    found = choose_variant(VARIANTS, channel, language, "en")
    return None if found is None else (found.channel, found.language)


# -- choosing ----------------------------------------------------------------------------------


def test_language_chains_fall_back_from_region_to_language_to_the_default() -> None:
    assert language_chain("pt-BR", "en") == ["pt-br", "pt", "en"]
    assert language_chain("pt_BR", "en") == ["pt-br", "pt", "en"]
    assert language_chain("es", "en") == ["es", "en"]
    assert language_chain("en-GB", "en") == ["en-gb", "en"]
    assert language_chain(None, "pt-BR") == ["pt-br", "pt"]
    assert language_chain("not a tag!", "en") == ["en"]


@pytest.mark.parametrize(
    ("channel", "language", "expected"),
    [
        ("email", "pt-BR", ("email", "pt-br")),  # the channel's own, exact language
        ("email", "pt-PT", ("*", "pt")),  # no Portuguese email: the generic Portuguese text
        ("email", "en-GB", ("email", "en")),  # region dropped
        ("email", "es", ("*", "es")),  # Spanish generic beats English email
        ("email", "fr", ("email", "en")),  # nothing in French: the default language
        ("sms", "pt-BR", ("*", "pt")),
        ("sms", "fr", ("*", "en")),
        ("sms", None, ("*", "en")),
        ("whatsapp", "es", ("whatsapp", "*")),  # the channel's any-language variant first
    ],
)
def test_a_variant_is_chosen_by_channel_then_language_with_fallback(
    channel: str, language: str | None, expected: tuple[str, str]
) -> None:
    assert chosen(channel, language) == expected


def test_without_a_matching_variant_nothing_is_chosen() -> None:
    only_email = [variant("email", "pt", text="x")]
    assert choose_variant(only_email, "sms", "pt", "en") is None
    assert choose_variant(only_email, "email", "es", "en") is None
    assert choose_variant(only_email, "email", "es", "pt") == only_email[0]


# -- rendering ---------------------------------------------------------------------------------


def test_a_variant_renders_with_the_customer_traits_event_and_journey() -> None:
    content = Content(template="promo", variables={"event": {"total": 249.9, "items": 3}})
    variants = [
        variant(
            "email",
            "en",
            subject="{{ customer.first_name }}, your cart",
            html="<p>{{ event.items }} items, {{ event.total }} ({{ traits.tier }})</p>",
            text="Journey {{ journey.id }} v{{ journey.version }} at {{ journey.node }}",
        )
    ]
    context = context_for(
        customer=ANA,
        traits={"tier": "gold & <b>"},
        variables=content.variables,
        origin="journey:j-9:v3:reminder",
    )

    done = render(content, variants, "email", "en", context)

    assert done.subject == "Ana, your cart"
    assert done.html == "<p>3 items, 249.9 (gold &amp; &lt;b&gt;)</p>"  # escaped in HTML
    assert done.text == "Journey j-9 v3 at reminder"
    assert done.variant == ("email", "en")


def test_literal_content_renders_and_none_renders_empty() -> None:
    context = context_for(customer={**ANA, "first_name": None}, variables={"offer": "20%"})
    done = render(
        Content(text="Hi {{ customer.first_name }}! {{ offer }} off"), [], "sms", None, context
    )
    assert done.text == "Hi ! 20% off"
    assert done.variant is None


def test_a_missing_trait_or_event_property_renders_empty_and_takes_a_default() -> None:
    context = context_for(customer=ANA, traits={}, variables={"event": {}})
    source = "[{{ traits.nickname }}][{{ traits.nickname | default('friend') }}][{{ event.a.b }}]"
    assert render_source(source, context) == "[][friend][]"
    assert render_source("{% if traits.vip %}VIP{% else %}-{% endif %}", context) == "-"


def test_a_name_nobody_provides_is_an_error_naming_it() -> None:
    context = context_for(customer=ANA)
    with pytest.raises(Invalid) as caught:
        render_source("Your code: {{ coupon }}", context, where="template 'promo' (sms, en) text")
    assert caught.value.code == "missing_variable"
    assert caught.value.message == "template 'promo' (sms, en) text: 'coupon' is undefined"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__init__ }}",
        "{{ customer['__class__'] }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_python_internals_when_saved_and_when_rendered(source: str) -> None:
    with pytest.raises(Invalid) as saved:
        needs(source, "variants[0].text")
    assert saved.value.code == "unsafe_template"
    assert saved.value.field == "variants[0].text"
    assert "names starting with _ are Python's internals" in saved.value.message

    # Rendered anyway (content saved before the check), nothing of Python comes out: a
    # refusal, or an empty value for a key the customer does not have.
    try:
        outcome = render_source(source, context_for(customer=ANA), where="content text")
    except Invalid as rendered:
        outcome = rendered.code
    assert outcome in ("", "unsafe_template", "missing_variable")


def test_the_sandbox_is_immutable_and_bounded() -> None:
    context = context_for(customer=ANA, variables={"items": [1, 2]})
    for source, code in [
        ("{{ items.append(3) }}", "unsafe_template"),
        ("{{ customer.update({'id': 'x'}) }}", "unsafe_template"),
        ("{{ 'x' * 10000000 }}", "unsafe_template"),
        ("{{ 9 ** 9999999 }}", "unsafe_template"),
        ("{% for i in range(100000) %}{{ 'x' * 20 }}{% endfor %}", "template_too_long"),
        ("{{ 1 / 0 }}", "invalid_template"),
    ]:
        with pytest.raises(Invalid) as caught:
            render_source(source, context)
        assert caught.value.code == code, source


def test_a_whatsapp_provider_template_renders_its_params() -> None:
    context = context_for(customer=ANA, variables={"code": "AB-12"})
    done = render(Content(template="promo"), VARIANTS, "whatsapp", "pt-BR", context)
    assert done.template is not None
    assert (done.template.name, done.template.language, done.template.params) == (
        "promo",
        "pt-BR",
        ("AB-12",),
    )


def test_a_channel_without_a_variant_is_refused() -> None:
    with pytest.raises(Invalid) as caught:
        render(Content(template="promo"), [variant("email", "en", text="x")], "sms", "en", {})
    assert (caught.value.code, caught.value.field) == ("unknown_template", "content.template")
    assert caught.value.message == "template 'promo' has no variant for sms in en"


# -- localisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("pt-BR", "R$ 1.234,50 · 1.234,5 · 23 de nov. de 2026 · 23/11/2026 15:00"),
        ("es", "1.234,50 US$ · 1.234,5 · 23 nov 2026 · 23/11/26, 15:00"),
        ("en", "$1,234.50 · 1,234.5 · Nov 23, 2026 · 11/23/26, 3:00\u202fPM"),
    ],
)
def test_filters_format_money_numbers_and_dates_in_the_customers_language(
    language: str, expected: str
) -> None:
    moment = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    context = context_for(
        customer=ANA,
        variables={"total": "1234.5", "at": moment.isoformat()},
        language=language,
        time_zone="America/Sao_Paulo",
    )
    currency = "BRL" if language == "pt-BR" else "USD"
    source = (
        f"{{{{ total | currency('{currency}') }}}} · {{{{ total | number }}}} · "
        "{{ at | date }} · {{ at | datetime('short') }}"
    )
    assert render_source(source, context) == expected.replace("R$ ", "R$\xa0").replace(
        "50 US$", "50\xa0US$"
    )


def test_a_filter_given_something_else_names_the_problem() -> None:
    with pytest.raises(Invalid) as caught:
        render_source("{{ 'soon' | date }}", context_for(customer=ANA), where="content text")
    assert caught.value.code == "invalid_template"
    assert "'soon' is not a date" in caught.value.message


# -- what a template needs, what a sender provides ----------------------------------------------


def test_the_variables_a_template_needs_are_found_by_static_analysis() -> None:
    source = (
        "{{ customer.first_name }} {{ event.cart.total }} {{ traits['tier'] }} {{ coupon }}"
        "{% set shown = event.items %}{% for item in shown %}{{ item.name }}{% endfor %}"
        "{{ traits.nickname | default('you') }}{% if gift is defined %}{% endif %}"
        "{{ event[key] }}{{ range(2) | list }}"
    )
    assert needs(source) == {
        ("customer", "first_name"),
        ("event", "cart", "total"),
        ("traits", "tier"),
        ("coupon",),
        ("event", "items"),
        ("event",),
        ("key",),
    }


def test_unknown_customer_or_journey_fields_are_refused_when_saved() -> None:
    with pytest.raises(Invalid) as caught:
        needs("Hi {{ customer.nickname }}", "variants[1].text")
    assert (caught.value.code, caught.value.field) == ("unknown_variable", "variants[1].text")
    assert caught.value.message == (
        "variants[1].text: {{ customer.nickname }} does not exist; customer holds id, name, "
        "first_name, last_name, email, phone"
    )
    with pytest.raises(Invalid):
        needs("{{ journey.name }}")


def test_what_a_journey_provides_depends_on_its_trigger() -> None:
    on_event = for_journey(parse_definition(_journey("event")).trigger, {"coupon": "X"})
    on_segment = for_journey(parse_definition(_journey("segment")).trigger, {})

    assert on_event.lacks(("event", "total")) is None
    assert on_event.lacks(("coupon",)) is None
    assert on_event.lacks(("traits", "anything", "deep")) is None
    assert on_event.lacks(("journey", "version")) is None
    assert on_segment.lacks(("event", "total")) == (
        "this journey is not entered on an event, so there is no event to read"
    )
    assert on_segment.lacks(("coupon",)) == (
        "nothing provides coupon: not a customer field, a trait, a journey field, an event "
        "property or one of the send's variables"
    )
    assert for_send({}).lacks(("journey", "id")) == "only a journey's sends provide journey"


def _journey(trigger: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "Cart",
        "trigger": {"event": "Cart Abandoned"} if trigger == "event" else {"segment": "vips"},
        "start": "mail",
        "nodes": {
            "mail": {
                "type": "send",
                "purpose": "marketing",
                "channels": ["email", "sms"],
                "content": content or {"template": "cart"},
                "next": "done",
            },
            "done": {"type": "exit"},
        },
    }


def test_a_journey_is_checked_for_templates_and_variables_it_cannot_fill() -> None:
    stored = {
        "cart": [
            variant("email", "en", subject="{{ event.total }} left", html="<p>{{ coupon }}</p>"),
            variant("*", "pt", text="Oi {{ customer.first_name }}"),
        ]
    }

    def lookup(name: str) -> list[TemplateVariant]:
        return stored.get(name, [])

    assert (
        journey_problems(
            parse_definition(_journey("event", {"template": "cart", "variables": {"coupon": "C"}})),
            lookup,
        )
        == []
    )

    problems = journey_problems(parse_definition(_journey("segment")), lookup)
    assert [(p.field, p.message) for p in problems] == [
        (
            "nodes.mail.content.template",
            "template 'cart' (email, en) subject uses {{ event.total }}, but this journey is "
            "not entered on an event, so there is no event to read",
        ),
        (
            "nodes.mail.content.template",
            "template 'cart' (email, en) html uses {{ coupon }}, but nothing provides coupon: "
            "not a customer field, a trait, a journey field, an event property or one of the "
            "send's variables",
        ),
    ]

    missing = journey_problems(parse_definition(_journey("event", {"template": "nope"})), lookup)
    assert [(p.field, p.message) for p in missing] == [
        ("nodes.mail.content.template", "no template is named 'nope'")
    ]

    stored["sms_less"] = [variant("email", "en", text="x")]
    uncovered = journey_problems(
        parse_definition(_journey("event", {"template": "sms_less"})), lookup
    )
    assert [p.message for p in uncovered] == [
        "template 'sms_less' has no variant for sms (nor for *)"
    ]

    literal = journey_problems(
        parse_definition(_journey("segment", {"text": "{{ event.total }}", "subject": "{{ x"})),
        lookup,
    )
    assert [(p.field, p.message) for p in literal] == [
        (
            "nodes.mail.content.subject",
            "line 1: unexpected end of template, expected 'end of print statement'.",
        ),
        (
            "nodes.mail.content.text",
            "uses {{ event.total }}, but this journey is not entered on an event, so there is "
            "no event to read",
        ),
    ]


# -- checking variants when saved --------------------------------------------------------------


@pytest.mark.parametrize(
    ("variants", "code", "field"),
    [
        ([], "no_variants", "variants"),
        (
            [variant("*", "*", text="a"), variant("*", "*", text="b")],
            "duplicate_variant",
            "variants[1]",
        ),
        ([variant("SMS", "*", text="a")], "invalid_channel", "variants[0]"),
        ([variant("*", "english!", text="a")], "invalid_language", "variants[0]"),
        ([variant("push", "*", subject="title only")], "empty_variant", "variants[0]"),
        ([variant("*", "*", text="{{ oops")], "invalid_template", "variants[0].text"),
        ([variant("*", "*", html="{{ ''.__class__ }}")], "unsafe_template", "variants[0].html"),
        (
            [variant("whatsapp", "*", provider_template={"params": ["x"]})],
            "invalid_provider_template",
            "variants[0].provider_template",
        ),
        (
            [
                variant(
                    "whatsapp", "*", provider_template={"name": "t", "params": ["{{ x.__y__ }}"]}
                )
            ],
            "unsafe_template",
            "variants[0].provider_template.params[0]",
        ),
    ],
)
def test_bad_variants_are_refused_naming_the_field(
    variants: list[TemplateVariant], code: str, field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        check_variants(variants)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_push_and_sms_variants_are_valid() -> None:
    check_variants(
        [
            variant("push", "en", subject="{{ customer.first_name }}", text="Your order shipped"),
            variant("sms", "pt-BR", text="Pedido enviado"),
        ]
    )


# -- SMS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("a" * 159 + "€", "GSM-7", 161, 2),  # € takes two septets
        ("€" * 80, "GSM-7", 160, 1),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # € is not split between parts
        ("Olá, João! Promoção: {[~]}", "UCS-2", 26, 1),  # ã and ç are not GSM-7
        ("ã" * 70, "UCS-2", 70, 1),
        ("ã" * 71, "UCS-2", 71, 2),
        ("ã" * 69 + "😀", "UCS-2", 71, 2),  # an emoji takes two UTF-16 units
        ("ã" * 66 + "😀" + "ã" * 66, "UCS-2", 134, 3),  # and is not split between parts
    ],
)
def test_sms_segments(text: str, encoding: str, units: int, segments: int) -> None:
    size = sms_size(text)
    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)
    assert size.characters == len(text)


def test_sms_segment_sizes() -> None:
    assert sms_size("a" * 160).per_segment == 160
    assert sms_size("a" * 161).per_segment == 153
    assert sms_size("ã").per_segment == 70
    assert sms_size("ã" * 71).per_segment == 67


# -- preview -------------------------------------------------------------------------------------


def test_a_preview_shows_missing_variables_as_markers() -> None:
    context = context_for(customer={}, variables={"coupon": "X1"}, preview=True)
    shown = templates.preview(
        "promo",
        [
            variant(
                "sms", "en", text="Hi {{ customer.first_name }}, {{ coupon }} for {{ event.total }}"
            )
        ],
        context,
        channel="sms",
        language="en",
    )
    (item,) = shown.items
    assert item.rendered.text == "Hi {{ customer.first_name }}, X1 for {{ event.total }}"
    assert shown.uses == ("coupon", "customer.first_name", "event.total")
    assert shown.missing == ("customer.first_name", "event.total")
    assert item.sms is not None
    assert item.sms.segments == 1


def test_an_sms_loses_the_no_break_spaces_that_would_make_it_ucs2() -> None:
    context = context_for(customer=ANA, variables={"total": 10}, language="pt-BR")
    content = Content(text="Total: {{ total | currency }}")

    sms = render(content, [], "sms", "pt-BR", context)
    email = render(content, [], "email", "pt-BR", context)

    assert sms.text == "Total: R$ 10,00"
    assert sms_size(sms.text).encoding == "GSM-7"
    assert email.text == "Total: R$\xa010,00"
