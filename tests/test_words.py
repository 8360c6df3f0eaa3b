"""Words, not codes, on the pages (issue 14, item 1): the price parser a Korean creator types into, times in
the reader's zone, money with separators, labels for every stored code, and form errors that speak Korean,
name the field, say how to fix it and keep what was typed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrain.core.errors import localised
from fairtrain.core.i18n import format_money, format_share, format_when
from fairtrain.core.labels import LABELS, word
from fairtrain.core.numbers import PriceError, parse_price
from web_helpers import PASSWORD, Session, make_app

MAN, CHEON, EOK, WON = "\ub9cc", "\ucc9c", "\uc5b5", "\uc6d0"  # Korean units, as a person types them
HANGUL = ("\uac00", "\ud7a3")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30000", 30000),
        ("30,000", 30000),
        (f"3{MAN}{WON}", 30000),
        (f"3{MAN} 5{CHEON}{WON}", 35000),
        (f"30,000{WON}", 30000),
        (f"3{MAN}5{CHEON}", 35000),
        (f"1{EOK} 2,000{MAN}", 120_000_000),
        (f"3{MAN} 5000{WON}", 35000),
        (" 12,000 ", 12000),
        ("0", 0),
    ],
)
def test_price_accepts_how_a_korean_reader_writes_it(text, value):
    assert parse_price(text) == Decimal(value)


@pytest.mark.parametrize(
    "text",
    [
        f"3.5{MAN}",
        "\uc0bc" + MAN,
        "-3",
        f"3{MAN}{MAN}",
        f"3{CHEON} 5{MAN}",
        "30,00",
        "",
        WON,
        f"3{MAN} 50000",
        "abc",
        "1e5",
        "3 0000",
        "1" * 70,
        f"99999{EOK}{EOK}",
        "30.000",
    ],
)
def test_price_refuses_anything_else_with_a_korean_sentence(text):
    with pytest.raises(PriceError) as e:
        parse_price(text)
    said = localised(e.value, "ko")
    assert "\uac00\uaca9" in said and "30,000" in said  # "가격 …, 예: 30000, 30,000, 3만원 …"
    assert "ConversionSyntax" not in said and "decimal" not in said


@given(st.integers(min_value=0, max_value=10**12))
def test_price_reads_every_way_of_writing_the_same_number(n):
    assert parse_price(str(n)) == n
    assert parse_price(f"{n:,}") == n and parse_price(f"{n:,}{WON}") == n
    eok, rest = divmod(n, 10**8)
    man, rest = divmod(rest, 10**4)
    cheon, one = divmod(rest, 10**3)
    parts = [
        f"{eok}{EOK}" if eok else "",
        f"{man}{MAN}" if man else "",
        f"{cheon}{CHEON}" if cheon else "",
        str(one) if one else "",
    ]
    korean = " ".join(p for p in parts if p)
    if korean and not korean.isdigit():
        assert parse_price(korean + WON) == n


@given(st.text(max_size=20))
def test_price_never_answers_other_than_a_number_or_a_price_error(text):
    try:
        assert parse_price(text) >= 0
    except PriceError as e:
        assert localised(e, "ko")


def test_times_read_in_the_readers_zone():
    at = datetime(2026, 12, 6, 15, 35, tzinfo=UTC)  # 00:35 the next day in Seoul
    ko = format_when(at, "ko")
    assert ko.startswith("2026\ub144 12\uc6d4 7\uc77c 00:35")
    assert format_when(at.isoformat(), "ko") == ko == format_when("2026-12-06T15:35:00Z", "ko")
    assert format_when(at, "en") == "6 Dec 2026, 15:35 UTC"
    assert format_when(None, "ko") == "" and format_when("not a time", "ko") == "not a time"


def test_money_reads_with_separators_in_won():
    assert format_money(Decimal(30000), "KRW", "ko") == f"30,000{WON}"
    assert format_money("1234567", "KRW", "ko") == f"1,234,567{WON}"
    assert format_money(30000, "KRW", "en") == "\u20a930,000"
    assert format_money("12.50", "EUR", "en") == "\u20ac12.50"


def test_shares_read_as_percentages():
    assert format_share("1", "ko") == "100%" and format_share("1/3", "en") == "33.33%"
    assert format_share("1/2", "ko") == "50%" and format_share("junk", "ko") == "junk"


def test_every_code_has_a_korean_word():
    for kind, codes in LABELS.items():
        for code in codes:
            ko = word(code, kind, "ko")
            assert any(HANGUL[0] <= ch <= HANGUL[1] for ch in ko), (kind, code, ko)
            assert word(code, kind, "en") != code or code == "licence"
    assert word("tdm", "category", "ko") != "tdm" and word("no-such", "status", "ko") == "no-such"


# -- the pages --------------------------------------------------------------------------------------


def _korean(s: Session) -> Session:
    s.client.headers["Accept-Language"] = "ko"
    return s


def test_policy_form_errors_are_korean_and_keep_what_was_typed(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    c = _korean(Session(app, "poet@example.org", "creator", "Poet"))
    form = {
        "csrf": c.csrf,
        "v_tdm": "deny",
        "v_train-ai": "deny",
        "v_train-genai": "licence",
        "v_ai-input": "deny",
        "v_search": "allow",
        "currency": "KRW",
        "price_model": "per-work",
    }
    r = c.client.post(
        "/policy", data={**form, "price": "3.5" + MAN}
    )  # before: offer: [<class 'decimal.ConversionSyntax'>]
    assert r.status_code == 422 and 'id="policy-error"' in r.text and "ConversionSyntax" not in r.text
    assert "\uac00\uaca9" in r.text and f'value="3.5{MAN}"' in r.text  # 가격 …, and the typed price is still there
    assert 'id="v_train-genai_licence" aria-label=' in r.text and 'value="licence"' in r.text
    assert r.text.count("checked") == 5
    r = c.client.post("/policy", data={**form, "price": ""})  # a licence without a price
    assert r.status_code == 422 and "\uc720\ub8cc" in r.text  # 유료
    r = c.client.post("/policy", data={**form, "price": f"3{MAN} 5{CHEON}{WON}"}, follow_redirects=False)
    assert r.status_code == 303
    page = c.client.get("/creator").text
    assert 'value="35000"' in page


def test_account_errors_are_korean_and_error_pages_keep_the_signed_in_menu(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    c = _korean(Session(app, "poet@example.org", "creator", "Poet"))
    from fastapi.testclient import TestClient

    anon = TestClient(app, headers={"Accept-Language": "ko"})
    r = anon.post("/signup", data={"email": "poet@example.org", "password": PASSWORD, "role": "creator", "name": "P"})
    assert r.status_code == 400 and "\uc774\ubbf8 \uac00\uc785" in r.text and "exists already" not in r.text
    assert 'value="poet@example.org"' in r.text
    r = anon.post("/signin", data={"email": "poet@example.org", "password": "wrong password"})
    assert r.status_code == 400 and "\ube44\ubc00\ubc88\ud638\uac00 \ud2c0\ub838" in r.text and "wrong" not in r.text
    org = Session(app, "cmo@example.org", "org-admin", "CMO")
    r = c.client.post("/creator/mandate", data={"csrf": c.csrf, "org_id": str(org.org_id)})  # no category ticked
    assert r.status_code == 422 and 'id="mandate-error"' in r.text and "field required" not in r.text.lower()
    r = c.client.get("/org")  # refused, but she is still signed in: the menu says so
    assert r.status_code == 403 and 'id="signout"' in r.text and "/creator" in r.text
    assert "org-admin" not in r.text.split("<main", 1)[1]


def test_korean_pages_show_words_not_codes(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    c = _korean(Session(app, "poet@example.org", "creator", "Poet"))
    from conftest import make_image

    r = c.request("POST", "/api/works", files=[("files", ("photo.jpg", make_image(3), "image/jpeg"))])
    assert r.status_code == 201 and r.json()["stored"] == 1
    work = r.json()["results"][0]["work"]
    page = c.client.get(f"/works/{work}").text
    main = page.split("<main", 1)[1]
    for code in (">image<", ">active<", ">tdm<", ">train-ai<", "author,", ">deny<"):
        assert code not in main, code
    assert word("image", "media", "ko") in main and word("active", "status", "ko") in main
    log = c.client.get("/log").text.split("<main", 1)[1]
    assert ">declaration<" not in log and "T0" not in log.split("<table", 1)[1]
