"""Every word a guest reads is marked for translation, and every catalog says every one of them.

- Templates: parsed with Jinja (with its i18n extension); the text left outside ``{% trans %}`` and ``_()``,
  and the attributes people read (alt, title, placeholder, aria-label), must hold no words.
- Catalogs: the message ids extracted from the code and the templates (as ``scripts/catalogs`` extracts them)
  are each in messages.pot and in every language's messages.po, neither fuzzy nor empty, with the language's
  number of plural forms and the placeholders of the id (Babel's checkers); each .mo says what its .po says.
- The language a request gets, and numbers, plurals, lists and times written for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, nodes

from waitline import domain, language
from waitline.domain import Overtaking
from waitline.ratelimit import RateLimited
from waitline.wait_estimate import WaitEstimate
from waitline.web import csrf, wording
from waitline.web.rendering import STATIC_DIRECTORY, TEMPLATE_DIRECTORY

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "waitline"
LOCALES = language.LOCALE_DIRECTORY
TRANSLATED = [code for code in language.LANGUAGES if code != language.ENGLISH]
# As scripts/catalogs extracts: translate(language, message), translate_plural(language, singular, plural, n).
KEYWORDS = {**DEFAULT_KEYWORDS, "translate": (2,), "translate_plural": (2, 3)}

# Every template is one or the other: a new template must be sorted here, and a guest's is checked.
GUEST_TEMPLATES = {
    "base.html",
    "_languages.html",
    "join.html",
    "_join_live.html",
    "status.html",
    "_status.html",
    "board.html",
    "_board.html",
    "error.html",
    "poster.html",  # a staff page, printed for guests to read
}
STAFF_TEMPLATES = {  # staff read English (and the API docs are for developers)
    "_actions.html",
    "_dashboard.html",
    "_notice.html",
    "api_docs.html",
    "dashboard.html",
    "login.html",
    # owners and managers (README "Running it from the browser")
    "_admin_nav.html",
    "admin_audit.html",
    "admin_home.html",
    "admin_location.html",
    "admin_login.html",
    "admin_owners.html",
    "admin_staff.html",
    "admin_tokens.html",
    "_login_form.html",
    "invite.html",  # a new host or manager accepting an invitation
    "_analytics_figures.html",
    "_analytics_range.html",
    "analytics.html",
    "analytics_overview.html",
    "messages.html",  # the texts to guests, edited by managers (the texts themselves: issue 9's catalogs)
}
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}
NOT_WORDS = {"waitline"}  # the product's name
MARK = "\x00"  # where the template outputs something (a translated string or a value)
ATTRIBUTE_BLOCKS = {"body_class"}  # blocks that fill in an attribute no one reads (base.html)


# --- templates ----------------------------------------------------------------------------------------------


def _skeleton(node: nodes.Node) -> Iterator[str]:
    """The template's literal text in document order, with MARK wherever it outputs a value."""
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            yield child.data if isinstance(child, nodes.TemplateData) else MARK
        return
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Block) and child.name in ATTRIBUTE_BLOCKS:
            continue
        if isinstance(child, nodes.Stmt | nodes.Template | nodes.Output):
            yield from _skeleton(child)


class _Words(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def _check(self, text: str) -> None:
        words = [word for word in re.findall(r"[^\W\d_]+", text.replace(MARK, " ")) if word not in NOT_WORDS]
        if words:
            self.found.append(" ".join(text.replace(MARK, "…").split()))

    def handle_data(self, data: str) -> None:
        self._check(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self._check(value)


def untranslated(source: str) -> list[str]:
    """The texts of a template that a reader sees but that are not marked for translation."""
    tree = Environment(extensions=["jinja2.ext.i18n"], autoescape=True).parse(source)
    finder = _Words()
    finder.feed("".join(_skeleton(tree)))
    finder.close()
    return finder.found


def test_every_template_is_sorted_into_guest_or_staff() -> None:
    names = {path.name for path in TEMPLATE_DIRECTORY.glob("*.html")}
    assert names == GUEST_TEMPLATES | STAFF_TEMPLATES
    assert not GUEST_TEMPLATES & STAFF_TEMPLATES


@pytest.mark.parametrize("name", sorted(GUEST_TEMPLATES))
def test_every_text_a_guest_reads_is_marked_for_translation(name: str) -> None:
    assert untranslated((TEMPLATE_DIRECTORY / name).read_text()) == []


def test_the_check_finds_text_left_unmarked() -> None:
    assert untranslated("<p>{{ _('Marked') }}</p><p>Left out {{ name }}</p>") == ["Left out …"]
    assert untranslated('<img alt="A photo" src="{{ url }}">') == ["A photo"]
    assert untranslated("{% if x %}<b>Open</b>{% endif %}") == ["Open"]
    assert untranslated("<p>{% trans n=3 %}{{ n }} parties{% endtrans %} · {{ count }}</p>") == []


def test_the_page_script_says_no_sentence_of_its_own() -> None:
    """The script's words come from the page (data-text-*), which is translated."""
    script = (STATIC_DIRECTORY / "waitline.js").read_text()
    literals = re.findall(r'"([^"\\]*)"', script)
    assert [text for text in literals if re.search(r"[A-Z][a-z]* [a-z]+", text)] == []


# --- catalogs -----------------------------------------------------------------------------------------------


def extracted() -> Catalog:
    """The message ids of the code and the templates, as scripts/catalogs extracts them."""
    with (ROOT / "babel.cfg").open() as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    catalog = Catalog()
    for _, _line, message, comments, context in extract_from_dir(
        SOURCE, method_map, options_map, keywords=KEYWORDS
    ):
        catalog.add(message, None, [], auto_comments=comments, context=context)
    return catalog


def po(code: str) -> Catalog:
    with (LOCALES / code / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file, locale=code)


@pytest.fixture(scope="module")
def ids() -> set[str]:
    found = {message.id if isinstance(message.id, str) else message.id[0] for message in extracted()}
    found.discard("")
    assert len(found) > 50  # the extraction found the pages' messages
    return found


def _id(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _forms(string: str | Sequence[str]) -> tuple[str, ...]:
    return (string,) if isinstance(string, str) else tuple(string)


def test_each_language_has_a_catalog_and_each_catalog_a_language() -> None:
    directories = {path.name for path in LOCALES.iterdir() if path.is_dir()}
    assert directories == set(TRANSLATED)


def test_the_template_holds_every_message_id_and_no_stale_one(ids: set[str]) -> None:
    with (LOCALES / "messages.pot").open("rb") as file:
        template = {_id(message.id) for message in read_po(file) if message.id}
    assert template == ids, "run scripts/catalogs"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_catalog_translates_every_message(code: str, ids: set[str]) -> None:
    catalog = po(code)
    messages = {_id(message.id): message for message in catalog if message.id}
    missing = sorted(ids - messages.keys())
    fuzzy = sorted(key for key, message in messages.items() if message.fuzzy)
    empty = []
    for key, message in messages.items():
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = catalog.num_plurals if message.pluralizable else 1
        if len(forms) != expected or not all(forms):
            empty.append(key)
    errors = [(message.id, [str(error) for error in problems]) for message, problems in catalog.check()]
    assert (missing, fuzzy, empty, errors) == ([], [], [], [])


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_compiled_catalog_says_what_its_source_says(code: str) -> None:
    with (LOCALES / code / "LC_MESSAGES" / "messages.mo").open("rb") as file:
        compiled = {_id(message.id): _forms(message.string) for message in read_mo(file) if message.id}
    source = {_id(message.id): _forms(message.string) for message in po(code) if message.id}
    assert compiled == source, "run scripts/catalogs compile"


def test_arabic_has_six_plural_forms_and_uses_them() -> None:
    assert po("ar").num_plurals == 6
    forms = {
        count: language.translate_plural("ar", "%(num)s more party", "%(num)s more parties", count)
        for count in (1, 2, 3, 11, 100)
    }
    assert forms == {
        1: "مجموعة أخرى",
        2: "مجموعتان أخريان",
        3: "3 مجموعات أخرى",
        11: "11 مجموعة أخرى",
        100: "100 مجموعة أخرى",
    }


def test_the_guest_errors_follow_the_domains_wording() -> None:
    """A guest reads these errors' messages translated; a reworded docstring must be reworded here too."""
    errors = [
        domain.InvalidMobileNumber(),
        domain.AlreadyInQueue(),
        domain.UnstorableInput(),
        domain.ServiceUnavailable(),
        domain.QueueClosed(),
        csrf.CsrfRefused(),
    ]
    details = {error.detail for error in errors} | {RateLimited.__doc__ or ""}
    assert details <= set(wording.GUEST_ERRORS)


# --- choosing the language ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("de-CH", "de"),
        ("ja, fr;q=0.5, en;q=0.7", "en"),
        ("pt-BR;q=0.9, ar-EG", "ar"),
        ("ar;q=0, fr;q=0.1", "fr"),
        ("*", "en"),
        ("", "en"),
        ("x;q=abc, de", "de"),
    ],
)
def test_the_browsers_languages_are_matched_in_their_order_of_preference(header: str, expected: str) -> None:
    assert language.choose(accept_language=header) == expected


def test_the_guests_choice_comes_first_then_the_browser_then_the_location_then_english() -> None:
    assert language.choose(chosen="ar", accept_language="es", location_default="fr") == "ar"
    assert language.choose(chosen="xx", accept_language="es", location_default="fr") == "es"
    assert language.choose(accept_language="ja", location_default="fr") == "fr"
    assert language.choose(accept_language="ja", location_default="tlh") == "en"
    assert language.choose() == "en"


def test_arabic_is_written_right_to_left_and_the_others_left_to_right() -> None:
    assert {code: language.direction(code) for code in language.LANGUAGES} == {
        "en": "ltr",
        "es": "ltr",
        "fr": "ltr",
        "de": "ltr",
        "pt": "ltr",
        "ar": "rtl",
    }


# --- numbers, waits, lists and times ------------------------------------------------------------------------


def test_numbers_and_times_are_written_for_the_language() -> None:
    evening = datetime(2026, 11, 29, 18, 42, tzinfo=UTC)
    assert language.number(12345, "en") == "12,345"
    assert language.number(12345, "de") == "12.345"
    assert language.number(12345, "fr") == "12\u202f345"
    assert language.clock_time(evening, "en", ZoneInfo("America/New_York")) == "1:42\u202fPM"
    assert language.clock_time(evening, "de", ZoneInfo("Europe/Berlin")) == "19:42"
    assert language.clock_time(evening, "es", ZoneInfo("Europe/Madrid")) == "19:42"


def test_a_wait_reads_naturally_in_each_language() -> None:
    about = WaitEstimate(low_minutes=25, high_minutes=25, from_history=False)
    between = WaitEstimate(low_minutes=10, high_minutes=16, from_history=True)
    soon = WaitEstimate(low_minutes=1, high_minutes=2, from_history=True)
    assert [wording.wait(about, code) for code in ("en", "es", "de", "ar")] == [
        "about 25 min",
        "unos 25\u00a0min",
        "etwa 25\u00a0Min.",
        "حوالي 25\u00a0دقيقة",
    ]
    assert wording.wait(between, "en") == "10–16 min"
    assert wording.wait(between, "ar") == "10–16\u00a0دقيقة"
    assert wording.wait(WaitEstimate(3, 7, True), "ar") == "3–7\u00a0دقائق"
    assert wording.wait(soon, "fr") == "d’un instant à l’autre"


def test_who_went_first_is_said_in_the_guests_language() -> None:
    many = Overtaking(tokens=(3, 4, 5, 6, 7, 9), table_sizes=(2, 4), party_size=8)
    one = Overtaking(tokens=(14,), table_sizes=(), party_size=6)
    assert wording.overtaking(many, "es") == (
        "Se llamó a #3, #4, #5, #6 y 2 grupos más antes que a usted: se liberaron mesas para 2 y 4 "
        "y su grupo es de 8."
    )
    assert wording.overtaking(one, "de") == "#14 wurde vor Ihnen aufgerufen."
    assert wording.overtaking(many, "ar") == (
        "تم استدعاء #3 و#4 و#5 و#6 ومجموعتان أخريان قبلك: فرغت طاولات تتسع لـ 2 و4، وعدد أفراد مجموعتك 8."
    )


def test_a_message_id_translates_without_the_web_layer() -> None:
    """What the notification texts use: a message id and a language code, nothing of web/."""
    assert language.translate("pt", "Your turn!") == "É a sua vez!"
    assert language.translate("en", "Your turn!") == "Your turn!"
    assert language.translate("de", "Not yet in any catalog") == "Not yet in any catalog"
    assert language.translate("fr", "Back to <bdi>%(name)s</bdi>", name="Chez Max") == (
        "Retour à <bdi>Chez Max</bdi>"
    )
