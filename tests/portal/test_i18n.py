"""The interface in English and Simplified Chinese (docs/I18N.md).

The catalogue: every string extraction finds is in the committed ``messages.pot`` and has a
Chinese translation with the same placeholders and markup; templates give ``_()`` only
literals; the domain's enumerations all have their words. Then over real HTTP: the sign-in
page, supplier and internal pages, error pages and form errors read in Chinese when the
``lang`` cookie or Accept-Language asks for it, and in English otherwise.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract
from litestar.plugins.jinja import JinjaTemplateEngine

from portal.app import _configure_templates
from portal.domain_messages import DOMAIN_ERRORS
from portal.i18n import LOCALE_DIR, catalogue_path, choose_language, current_language, gettext_
from portal.vocabulary import WORDS
from tests.conftest import Browser
from trace_core.certificates.models import CERTIFICATE_STATUSES, COVERAGE_STATUSES
from trace_core.certificates.service import DECISION_MEANINGS
from trace_core.identity.access import VERIFICATION_METHODS
from trace_core.identity.roles import KIND_LABELS, ROLE_LABELS
from trace_core.inventory.models import INTERNAL_LOT_STATUSES
from trace_core.lots.models import LOT_STATUSES
from trace_core.packing.models import UNIT_LEVELS, UNIT_STATUSES
from trace_core.processes.models import APPROVAL_STATUSES, PROCESS_KINDS, RUN_STATUSES
from trace_core.receipts.models import INSPECTION_STATUSES
from trace_core.records.service import SIGNATURE_MEANINGS
from trace_core.trace.models import EDGE_KINDS, NODE_KINDS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "portal" / "templates"
POT = LOCALE_DIR / "messages.pot"
ANNA, QA = "anna@acme-polymers.example", "qa@traceport.example"
ZH = {"lang": "zh_CN"}

#: %(name)s, %s and %% (Python and Jinja's _()), {name} (str.format), and markup tags.
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sdr%]|\{\w*\}|</?\w+[^>]*>")


def _ids(catalog: Catalog) -> set[str]:
    return {str(m.id) for m in catalog if m.id}


def _read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What ``pybabel extract -F pyproject.toml`` finds today (docs/I18N.md)."""
    out = tmp_path_factory.mktemp("i18n") / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(ROOT / "pyproject.toml"), "-o", str(out), str(ROOT)]
    )
    return _read(out)


@pytest.fixture(scope="module")
def chinese() -> Catalog:
    with catalogue_path("zh_CN").open("rb") as handle:
        return read_po(handle, locale="zh_CN")


def test_the_committed_template_is_what_extraction_finds(extracted: Catalog) -> None:
    """Run ``pybabel extract`` (see docs/I18N.md) when this fails."""
    committed = _ids(_read(POT))
    assert _ids(extracted) - committed == set(), "new strings missing from messages.pot"
    assert committed - _ids(extracted) == set(), "messages.pot has strings no longer used"
    assert len(committed) > 700


def test_every_message_has_a_chinese_translation(extracted: Catalog, chinese: Catalog) -> None:
    """Run ``pybabel update`` and translate what is new when this fails."""
    translated = {str(m.id): m for m in chinese if m.id}
    missing = sorted(_ids(extracted) - set(translated))
    assert not missing, f"not in the zh_CN catalogue: {missing}"
    untranslated = sorted(
        key
        for key, message in translated.items()
        if not message.string or message.fuzzy or not str(message.string).strip()
    )
    assert not untranslated, f"no reviewed translation: {untranslated}"
    assert set(translated) - _ids(extracted) == set(), "stale entries: run pybabel update"
    assert not chinese.obsolete, "obsolete (#~) entries left in the zh_CN catalogue"


def test_translations_keep_placeholders_and_markup(chinese: Catalog) -> None:
    wrong = [
        (message.id, message.string)
        for message in chinese
        if message.id
        and sorted(PLACEHOLDER.findall(str(message.id)))
        != sorted(PLACEHOLDER.findall(str(message.string)))
    ]
    assert not wrong


def test_the_chinese_catalogue_has_one_plural_form_and_reads_as_chinese(chinese: Catalog) -> None:
    assert chinese.plural_forms == "nplurals=1; plural=0;"
    assert str(chinese.locale) in ("zh_Hans_CN", "zh_CN")
    han = re.compile(r"[\u4e00-\u9fff]")
    # Everything with a word of English in it reads in Chinese, except identifiers and
    # standard names kept as they are (SSCC, CoA SHA-256).
    kept = {
        str(m.id) for m in chinese if m.id and not han.search(str(m.string)) and " " in str(m.id)
    }
    assert kept <= {"CoA SHA-256"}, kept


def test_the_catalogues_are_package_data() -> None:
    """A built wheel carries the catalogues (it compiles them when first used, like an
    editable install): the package-data globs name every file under ``portal/locale``."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        globs = tomllib.load(handle)["tool"]["setuptools"]["package-data"]["portal"]
    package = ROOT / "portal"
    files = {p.relative_to(package).as_posix() for p in LOCALE_DIR.rglob("*") if p.is_file()}
    covered = {f for f in files for g in globs if fnmatch.fnmatch(f, g)}
    assert catalogue_path("zh_CN").relative_to(package).as_posix() in files
    assert files == covered


def _template_calls() -> Iterator[tuple[str, int, str, object]]:
    for path in sorted(TEMPLATES.rglob("*.html")):
        with path.open("rb") as handle:
            for lineno, function, message, _ in babel_extract(
                handle, ("_", "gettext", "ngettext"), [], {"extensions": "jinja2.ext.i18n"}
            ):
                yield str(path.relative_to(TEMPLATES)), lineno, function, message


def test_templates_give_the_translation_function_literals_only() -> None:
    """``_()`` marks its result safe and %-formats it: data goes through ``| translate``."""
    found = list(_template_calls())
    # Jinja reports a call's keyword arguments (the values of its placeholders) as None
    # after the message; the message itself (ngettext: both forms) must be a literal.
    not_literal = [
        (name, line)
        for name, line, function, message in found
        if not all(
            isinstance(part, str)
            for part in (message if isinstance(message, tuple) else (message,))[
                : 2 if function == "ngettext" else 1
            ]
        )
    ]
    assert not not_literal
    assert len(found) > 800


def test_the_translate_filter_escapes_data_and_passes_unknown_text() -> None:
    engine = JinjaTemplateEngine(directory=TEMPLATES)
    _configure_templates(engine)
    page = engine.engine.from_string(
        "{{ _('Sign in') }}|{{ message | translate }}|{{ status | translate }}|"
        "{{ _('Welcome, %(name)s', name=name) }}"
    )
    values = {"message": "<script>x</script> 100%", "status": "on hold", "name": "<i>Li</i>"}
    token = current_language.set("zh_CN")
    try:
        assert page.render(**values) == (
            "登录|&lt;script&gt;x&lt;/script&gt; 100%|冻结|欢迎，&lt;i&gt;Li&lt;/i&gt;"
        )
    finally:
        current_language.reset(token)
    assert page.render(**values).startswith("Sign in|&lt;script&gt;")


@pytest.mark.parametrize(
    ("cookie", "accept", "language"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        (None, "zh-TW", "zh_CN"),
        (None, "zh", "zh_CN"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "zh-CN;q=0.5,en;q=0.9", "en"),
        (None, "fr-FR,zh;q=0.8", "zh_CN"),
        (None, "fr-FR,de", "en"),
        (None, "zh;q=0,en;q=0.1", "en"),
        ("zh_CN", "en-US", "zh_CN"),
        ("en", "zh-CN", "en"),
        ("klingon", "zh-CN", "zh_CN"),
    ],
)
def test_language_from_cookie_then_accept_language(
    cookie: str | None, accept: str | None, language: str
) -> None:
    assert choose_language(cookie, accept) == language


def _enumerated() -> set[str]:
    words = {
        *LOT_STATUSES,
        *RUN_STATUSES,
        *CERTIFICATE_STATUSES,
        *COVERAGE_STATUSES,
        *APPROVAL_STATUSES,
        *INSPECTION_STATUSES,
        *UNIT_STATUSES,
        *INTERNAL_LOT_STATUSES,
        *UNIT_LEVELS,
        *PROCESS_KINDS,
        *NODE_KINDS,
        *EDGE_KINDS,
        *SIGNATURE_MEANINGS,
        *DECISION_MEANINGS.values(),
        *ROLE_LABELS.values(),
        *KIND_LABELS.values(),
        *VERIFICATION_METHODS,
    }
    return {word.replace("_", " ") for word in words}


def test_every_word_of_the_domains_enumerations_is_in_the_vocabulary(chinese: Catalog) -> None:
    assert _enumerated() - set(WORDS) == set()
    token = current_language.set("zh_CN")
    try:
        assert all(gettext_(word) != word or word == "sscc" for word in WORDS)
    finally:
        current_language.reset(token)


def test_the_extractor_knows_every_domain_error() -> None:
    """Every subclass of a ``DomainError`` (by the name it is raised with) is extracted."""
    subclasses: set[str] = set()
    for folder in ("trace_core", "documents", "portal"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases = {b.id if isinstance(b, ast.Name) else "" for b in node.bases}
                    if bases & DOMAIN_ERRORS:
                        subclasses.add(node.name)
    assert subclasses - DOMAIN_ERRORS == set()


def test_a_fixed_domain_message_is_translated_and_one_built_with_values_is_not() -> None:
    token = current_language.set("zh_CN")
    try:
        assert gettext_("No such lot.") == "没有该批次。"
        assert gettext_("Use at least 12 characters.") == "Use at least 12 characters."
    finally:
        current_language.reset(token)


# -- over HTTP -------------------------------------------------------------------------------


def text_of(response: httpx.Response) -> str:
    """The page as a reader sees it: no tags, entities decoded, whitespace collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.text, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    body = body.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    return re.sub(r"\s+", " ", body)


def html_lang(response: httpx.Response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.text)
    assert match, response.text[:200]
    return match.group(1)


async def test_the_sign_in_page_reads_in_english_by_default_and_chinese_when_asked(
    browser: Browser,
) -> None:
    english = await browser.get("/login")
    assert english.status_code == 200
    assert html_lang(english) == "en"
    assert "Sign in" in text_of(english) and "Forgot your password?" in text_of(english)
    assert "登录" not in text_of(english)

    by_header = await browser.get("/login", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert html_lang(by_header) == "zh-CN"
    assert "登录" in text_of(by_header) and "忘记密码？" in text_of(by_header)
    assert "Sign in" not in text_of(by_header)

    browser.http.cookies.set("lang", "zh_CN")
    by_cookie = await browser.get("/login", headers={"accept-language": "en-US"})
    assert html_lang(by_cookie) == "zh-CN"
    assert "电子邮件地址" in text_of(by_cookie) and "E-mail address" not in text_of(by_cookie)


async def test_the_language_switch_sets_the_cookie_and_returns_to_the_page(
    browser: Browser,
) -> None:
    page = await browser.get("/login?next=%2Fsupplier")
    # A page never repeats its own address in the link: the click's Referer names it.
    assert '<a href="/language?lang=zh_CN" lang="zh-CN" hreflang="zh-CN">简体中文</a>' in page.text
    assert '<b lang="en" aria-current="true">English</b>' in page.text

    here = "http://testserver/login?next=%2Fsupplier"
    switched = await browser.get("/language", params={"lang": "zh_CN"}, headers={"referer": here})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/login?next=%2Fsupplier"
    assert "lang=zh_CN" in switched.headers["set-cookie"]
    chinese = await browser.get("/login")
    assert "登录" in text_of(chinese)
    assert '<a href="/language?lang=en" lang="en" hreflang="en">English</a>' in chinese.text

    elsewhere = {"referer": "https://evil.example/login"}
    back = await browser.get("/language", params={"lang": "en"}, headers=elsewhere)
    assert back.headers["location"] == "/"
    assert "Sign in" in text_of(await browser.get("/login"))
    named = await browser.get("/language", params={"lang": "en", "next": "//evil.example/"})
    assert named.headers["location"] == "/"

    # A page that answered a form post goes back to the page the form was on.
    refused = await browser.post(
        "/login",
        {"email": ANNA, "password": "wrong", "next": "/"},
        headers={"referer": "http://testserver/login?next=%2F"},
    )
    assert refused.status_code == 401
    assert 'href="/language?lang=zh_CN&amp;next=%2Flogin%3Fnext%3D%252F"' in refused.text

    unknown = await browser.get("/language", params={"lang": "xx"})
    assert unknown.status_code == 404
    assert "No such language." in text_of(unknown)


async def test_refusals_and_form_errors_read_in_chinese(browser: Browser) -> None:
    browser.http.cookies.set("lang", "zh_CN")
    await browser.get("/login")
    refused = await browser.post(
        "/login", {"email": ANNA, "password": "not the password", "next": "/"}
    )
    assert refused.status_code == 401
    assert "电子邮件地址或密码不正确，或账户已被锁定。" in text_of(refused)

    empty = await browser.post("/password/forgot", {"email": ""})
    assert empty.status_code == 422
    assert "请输入您的电子邮件地址。" in text_of(empty)

    await browser.login(ANNA)
    # A guard's refusal (before any handler runs) and an unknown page: the error page.
    guarded = await browser.get("/internal/review")
    assert guarded.status_code == 403
    assert "不允许" in text_of(guarded) and "此页面仅供本公司员工使用。" in text_of(guarded)
    missing = await browser.get("/supplier/lots/999999")
    assert missing.status_code == 404
    assert "未找到" in text_of(missing) and "没有该批次。" in text_of(missing)

    # A supplier lot form sent without its fields: the domain's messages, in Chinese.
    dashboard = await browser.get("/supplier")
    part = re.search(r"/supplier/lots/new\?part=([\w-]+)", dashboard.text)
    assert part
    invalid = await browser.post(
        "/supplier/lots",
        {"part_number": part.group(1), "lot_number": "", "quantity": "1", "unit": ""},
    )
    assert invalid.status_code == 422
    page = text_of(invalid)
    assert "请更正下方标出的字段；未保存任何内容。" in page
    assert "批号为必填项。" in page and "The lot number is required." not in page


SUPPLIER_PAGES = {
    "/supplier": ("您供应的零件", "Parts you supply"),
    "/supplier/lots/new": ("提交批次", "Submit a lot"),
    "/supplier/certificates": ("您的证书", "Your certificates"),
    "/supplier/process-runs": ("您的工序批准", "Your process approvals"),
    "/account/security": ("身份验证器应用", "Authenticator app"),
}
INTERNAL_PAGES = {
    "/internal": ("最近的供应商批次", "Recent supplier lots"),
    "/internal/review": ("等待 QA 决定的已提交供应商批次", "Submitted supplier lots waiting"),
    "/internal/receipts": ("收货日的供应商证书", "Supplier certificate on the receipt date"),
    "/internal/trace?q=AP-24-0815&direction=forward": ("的正向追溯", "Forward trace of"),
    "/internal/recalls": ("已发起的召回", "Recalls opened"),
    "/internal/audit": ("签署对这些事件的审核", "Sign the review of these events"),
    "/internal/certificates": ("供应商证书", "Supplier certificates"),
    "/internal/process-runs": ("最近的工序运行", "Recent process runs"),
    "/internal/shipping-units": ("物流单元", "Shipping units"),
}


async def _lot_page(browser: Browser, listing: str, prefix: str) -> str:
    page = await browser.get(listing)
    found = re.search(rf'href="({prefix}\d+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


@pytest.mark.parametrize(
    ("who", "pages", "lot_listing", "lot_prefix", "lot_words"),
    [
        (ANNA, SUPPLIER_PAGES, "/supplier", "/supplier/lots/", ("对照我方规范的结果", "总体判定")),
        (QA, INTERNAL_PAGES, "/internal", "/internal/lots/", ("从分析证书（CoA）中提取的文本",)),
    ],
    ids=["supplier", "internal"],
)
async def test_signed_in_pages_read_in_the_chosen_language(
    browser: Browser,
    who: str,
    pages: dict[str, tuple[str, str]],
    lot_listing: str,
    lot_prefix: str,
    lot_words: tuple[str, ...],
) -> None:
    await browser.login(who)
    lot = await _lot_page(browser, lot_listing, lot_prefix)
    record = await _lot_page(browser, lot, "/records/supplier_lot/")
    every = {
        **pages,
        lot: (lot_words[0], "Results against our specification"),
        record: ("此记录的审计追踪", "Audit trail of this record"),
    }
    for path, (chinese, english) in every.items():
        plain = await browser.get(path)
        assert plain.status_code == 200, path
        assert html_lang(plain) == "en"
        assert english in text_of(plain) and chinese not in text_of(plain), path
        assert "Sign out" in text_of(plain)

        # Asked for by the browser, or chosen with the switch (which outranks the browser).
        for cookie, accept in ((None, "zh-CN,zh;q=0.9,en;q=0.5"), ("zh_CN", "en-US,en;q=0.9")):
            if cookie:
                browser.http.cookies.set("lang", cookie)
            translated = await browser.get(path, headers={"accept-language": accept})
            browser.http.cookies.delete("lang")
            assert translated.status_code == 200, path
            assert html_lang(translated) == "zh-CN", path
            page = text_of(translated)
            assert chinese in page, (path, page[:1500])
            assert english not in page, path
            assert "退出登录" in page and "Sign out" not in page, path
    lot_page = text_of(await browser.get(lot, headers={"accept-language": "zh-CN"}))
    assert all(word in lot_page for word in lot_words)
    # Statuses and verdicts are data; they read in Chinese too.
    assert re.search("已批准|已提交|草稿", lot_page) and re.search("合格|不合格", lot_page)
