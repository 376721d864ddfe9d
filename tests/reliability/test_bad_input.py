"""Hostile and malformed input against the real gateway (and model service): each is refused with
a readable 4xx, or stored exactly as sent, and the server goes on serving.

The field-by-field 4xx table of the API lives in tests/gateway/test_api.py; these are the cases
an attacker or a broken client would try.
"""

from collections.abc import Iterator

import httpx
import pytest

from stack.parts import MACHINE_HEADERS, GatewayProcess
from tests.reliability.ledger import Ledger
from tests.reliability.load import ReviewLoad, account, create_movie, stored_reviews
from ui import render

pytestmark = pytest.mark.integration

SQL_INJECTIONS = [
    "'; DROP TABLE reviews; --",
    "Robert'); DROP TABLE movies;--",
    "' OR '1'='1' --",
    "1; SELECT pg_sleep(5)",
    "%' OR 1=1 --",
    '" OR ""="',
    "\\'; TRUNCATE movies CASCADE; --",
]
MARKUP = '<script>alert("xss")</script><img src=x onerror="alert(1)"> <b>굵게</b> {{7*7}} ${7*7}'
CONTROL_CHARACTERS = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\x9b"]


@pytest.fixture(scope="module")
def api(open_gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_gateway.url, headers=MACHINE_HEADERS, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def movie_id(open_gateway: GatewayProcess) -> int:
    return create_movie(open_gateway.url, "입력 시험용 영화")


def review_body(movie_id: int, content: str, author: str = "관객") -> dict:
    return {"movie_id": movie_id, "author": author, "content": content}


def test_a_100k_character_review_is_refused_by_size_not_by_a_crash(
    api: httpx.Client, movie_id: int, model_service_url: str, ledger: Ledger
) -> None:
    content = "영화가 정말 좋았다 " * 10_000  # 100,000 characters, 280 KB in UTF-8
    gateway = api.post("/reviews/", json=review_body(movie_id, content))
    model = httpx.post(f"{model_service_url}/classify", json={"texts": [content]}, timeout=30)

    ledger.refusal("100k-character review", "gateway", [gateway.status_code], expected="413")
    ledger.refusal("100k-character text", "model service", [model.status_code], expected="400")
    assert gateway.status_code == 413
    assert "larger than the 65536 bytes" in gateway.json()["detail"]
    assert model.status_code == 400
    assert "at most 5000 characters" in model.text
    assert api.get("/health").json()["database"] == "ok"


def test_a_body_streamed_past_the_limit_is_cut_off_with_413(
    api: httpx.Client, ledger: Ledger
) -> None:
    def endless_json() -> Iterator[bytes]:  # chunked, no Content-Length: 1 MiB of one string
        yield b'{"title": "'
        yield from (b"x" * 65_536 for _ in range(16))
        yield b'"}'

    response = api.post("/movies/", content=endless_json(),
                        headers={"Content-Type": "application/json"})  # fmt: skip

    ledger.refusal("body streamed past the size limit (chunked)", "gateway",
                   [response.status_code], expected="413")  # fmt: skip
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


@pytest.mark.parametrize("control", CONTROL_CHARACTERS, ids=[repr(c) for c in CONTROL_CHARACTERS])
def test_control_characters_are_refused_in_every_text_field(
    api: httpx.Client, movie_id: int, control: str, ledger: Ledger
) -> None:
    responses = [
        api.post("/reviews/", json=review_body(movie_id, f"좋은 영화{control}였다")),
        api.post("/reviews/", json=review_body(movie_id, "좋은 영화였다", author=f"a{control}b")),
        api.post("/movies/", json={"title": f"제목{control}끝"}),
        api.get("/movies/", params={"q": f"제목{control}끝"}),
    ]
    ledger.refusal("control characters in text fields", "gateway",
                   [r.status_code for r in responses], expected="422")  # fmt: skip
    assert [response.status_code for response in responses] == [422] * 4
    assert all("control characters" in response.json()["detail"] for response in responses)


def test_tabs_and_newlines_are_ordinary_text_and_kept(api: httpx.Client, movie_id: int) -> None:
    content = "첫 줄\n둘째 줄\r\n\t들여 쓴 셋째 줄"
    created = api.post("/reviews/", json=review_body(movie_id, content))
    assert created.status_code == 201
    assert api.get(f"/reviews/{created.json()['id']}").json()["content"] == content


@pytest.mark.parametrize(
    "body",
    [
        b'{"movie_id": 1, "author": "a", "content": "\xff\xfe invalid UTF-8 \xc3\x28"}',
        b'{"movie_id": 1, "author": "a", "content": "\\ud800 lone surrogate"}',
        b'{"movie_id": 1, "author": "\\udfff", "content": "lone low surrogate"}',
        b"\xef\xbb\xbf\x00\x00\x00",
    ],
    ids=["invalid UTF-8 bytes", "lone surrogate escape", "lone low surrogate", "BOM and NULs"],
)
def test_invalid_unicode_is_refused_with_a_4xx(
    api: httpx.Client, body: bytes, ledger: Ledger
) -> None:
    response = api.post("/reviews/", content=body, headers={"Content-Type": "application/json"})
    ledger.refusal("invalid UTF-8 or lone surrogates", "gateway", [response.status_code],
                   expected="400 or 422")  # fmt: skip
    assert response.status_code in (400, 422), response.text
    assert isinstance(response.json()["detail"], str)


def test_invalid_unicode_reaches_the_model_service_as_a_400(
    model_service_url: str, ledger: Ledger
) -> None:
    bodies = [b'{"texts": ["\xff\xfe bad"]}', b'{"texts": ["\\ud800 lone"]}']
    statuses = [
        httpx.post(f"{model_service_url}/classify", content=body,
                   headers={"Content-Type": "application/json"}, timeout=30).status_code
        for body in bodies
    ]  # fmt: skip
    ledger.refusal("invalid UTF-8 or lone surrogates", "model service", statuses,
                   expected="400")  # fmt: skip
    assert statuses == [400, 400]


@pytest.mark.parametrize("payload", SQL_INJECTIONS)
def test_sql_injection_looking_text_is_stored_verbatim_and_searched_literally(
    api: httpx.Client, payload: str, ledger: Ledger
) -> None:
    movie = api.post("/movies/", json={"title": payload, "director": payload}).json()
    review = api.post("/reviews/", json=review_body(movie["id"], payload, author=payload))
    found = api.get("/movies/", params={"q": payload}).json()

    ledger.refusal("SQL-injection-looking text", "gateway", [review.status_code],
                   expected="201, stored verbatim")  # fmt: skip
    assert review.status_code == 201
    stored = api.get(f"/reviews/{review.json()['id']}").json()
    assert (stored["content"], stored["author"]) == (payload, payload)
    assert api.get(f"/movies/{movie['id']}").json()["title"] == payload
    assert movie["id"] in {match["id"] for match in found}
    for match in found:  # each match holds the text as typed, not a pattern it spelled
        fields = (match["title"], match["director"] or "", match["genre"] or "")
        assert any(payload.lower() in field.lower() for field in fields)
    assert api.get("/reviews/", params={"limit": 1}).status_code == 200  # the tables are there


def test_markup_is_stored_verbatim_served_as_json_and_rendered_as_text(
    api: httpx.Client, movie_id: int, ledger: Ledger
) -> None:
    created = api.post("/reviews/", json=review_body(movie_id, MARKUP, author="<i>관객</i>"))
    stored = api.get(f"/reviews/{created.json()['id']}")

    ledger.refusal("HTML/script in a review", "gateway", [created.status_code],
                   expected="201, stored verbatim, shown as text")  # fmt: skip
    assert created.status_code == 201
    assert stored.headers["content-type"] == "application/json"
    assert stored.json()["content"] == MARKUP
    # The UI shows what the gateway stored as text (tests/ui covers the page in Chromium).
    card = render.review_cards([stored.json()], {movie_id: "<b>제목</b>"})
    assert "<script" not in card and "<img" not in card and "<i>" not in card
    assert "&lt;script&gt;" in card


PAGING = [("skip", "-1"), ("skip", "-99999999999999999999"), ("skip", "1000001"),
          ("skip", "1e3"), ("limit", "0"), ("limit", "-5"), ("limit", "501"),
          ("limit", "99999999999999999999999"), ("limit", "NaN")]  # fmt: skip


@pytest.mark.parametrize("path", ["/movies/", "/reviews/", "/reviews/movie/{movie_id}"])
@pytest.mark.parametrize(("name", "value"), PAGING, ids=[f"{n}={v}" for n, v in PAGING])
def test_out_of_range_paging_gets_422_naming_the_parameter(
    api: httpx.Client, movie_id: int, path: str, name: str, value: str, ledger: Ledger
) -> None:
    response = api.get(path.format(movie_id=movie_id), params={name: value})
    ledger.refusal("negative or huge skip/limit", "gateway", [response.status_code],
                   expected="422")  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{name}:")


def test_the_largest_page_is_served(api: httpx.Client, movie_id: int) -> None:
    response = api.get("/reviews/", params={"skip": 1_000_000, "limit": 500})
    assert (response.status_code, response.json()) == (200, [])


def test_deleting_a_movie_while_its_reviews_are_posted_leaves_no_orphan(
    open_gateway: GatewayProcess, ledger: Ledger
) -> None:
    movie_id = create_movie(open_gateway.url, "곧 지워질 영화")
    with ReviewLoad(open_gateway.url, movie_id, threads=4, pause_s=0.01, limit=300) as load:
        load.wait_for_more(201, 15)
        deleted = httpx.delete(
            f"{open_gateway.url}/movies/{movie_id}", headers=MACHINE_HEADERS, timeout=30
        )
        load.wait_for_more(404, 15)
    figures = account(load, stored_reviews(open_gateway.env["DATABASE_URL"], load.run))

    statuses = [outcome.status for outcome in load.outcomes]
    ledger.refusal("review posts racing their movie's delete", "gateway", statuses,
                   expected="201 or 404")  # fmt: skip
    assert deleted.status_code == 200
    assert set(figures["statuses"]) == {"201", "404"}
    assert figures["stored"] == 0  # the movie's reviews went with it; none was left orphaned
    assert httpx.get(f"{open_gateway.url}/reviews/movie/{movie_id}").status_code == 404
    accepted = [outcome.review_id for outcome in load.outcomes if outcome.status == 201]
    assert {httpx.get(f"{open_gateway.url}/reviews/{review_id}").status_code
            for review_id in accepted[:5]} == {404}  # fmt: skip
    assert httpx.get(f"{open_gateway.url}/health").json()["status"] == "ok"
