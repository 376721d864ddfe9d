"""The UI end to end: headless Chromium drives the real app over a real gateway and model service.

Screenshots of each page land in artifacts/screenshots/. The tiny test model is random, so the
checks compare what the page shows with what the gateway stored, never with a fixed label.
"""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from stack.parts import (
    MACHINE_KEY,
    TEST_ADMIN_EMAIL,
    TEST_ADMIN_PASSWORD,
    GatewayProcess,
    UIProcess,
)
from stack.ports import free_port
from stack.process import REPO_ROOT
from ui.client import GatewayClient
from ui.i18n import label_text

pytestmark = pytest.mark.integration

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
POSTER_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="200" height="300">
<rect width="200" height="300" fill="#1e3a8a"/><circle cx="100" cy="120" r="50" fill="#fbbf24"/>
<text x="100" y="250" font-size="28" text-anchor="middle" fill="#f8fafc">POSTER</text></svg>"""
# A claim left by a gateway stopped mid-round lapses in seconds, not the default minute.
SHORT_CLAIMS = {
    "SCORER_LEASE_S": "5",
    "MODEL_SERVICE_CONNECT_TIMEOUT_S": "1",
    "SCORING_TIMEOUT_S": "3",
}
HOSTILE = (
    '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    "<b>굵게</b> 한국어 리뷰 ${window.__xss} {{value}} & 끝"
)


@pytest.fixture(scope="module")
def ui_url(gateway_url: str) -> Iterator[str]:
    with UIProcess(gateway_url) as ui:
        yield ui.url


@pytest.fixture(scope="module")
def gateway(gateway_url: str) -> Iterator[GatewayClient]:
    client = GatewayClient(gateway_url, api_key=MACHINE_KEY)
    yield client
    client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def poster_url() -> Iterator[str]:
    """A poster image served on loopback, as a movie's poster_url would be on the web."""

    class Poster(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/svg+xml")
            self.end_headers()
            self.wfile.write(POSTER_SVG.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Poster)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/poster.svg"
    server.shutdown()
    server.server_close()


def shot(page: Page, name: str) -> None:
    """A full-page screenshot once no update is in flight and every visible chart is drawn."""
    page.wait_for_function(
        "!document.querySelector('[data-testid=status-tracker]:not(.hide)')"
        " && [...document.querySelectorAll('.vega-embed')].every("
        "e => !e.checkVisibility() || e.querySelector('svg.marks'))"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def fill(page: Page, elem_id: str, text: str) -> None:
    page.locator(f"#{elem_id}").get_by_role("textbox").fill(text)


def pick(page: Page, elem_id: str, choice: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=choice, exact=True).click()


def sign_in(page: Page, email: str, password: str) -> None:
    open_tab(page, "계정")
    fill(page, "account-email", email)
    fill(page, "account-password", password)
    page.locator("#sign-in").click()
    expect(page.locator("#account-status")).to_contain_text("님으로 로그인했습니다")


def new_user(client: GatewayClient, name: str) -> tuple[str, str]:
    """A registered account's email and password."""
    email, password = f"{uuid.uuid4().hex[:8]}@example.org", "a long enough password"
    client.register(email=email, password=password, display_name=name)
    return email, password


def wait_for_score(client: GatewayClient, review_id: int, timeout: float = 30.0) -> dict:
    """The review once the gateway's background scorer has scored it."""
    deadline = time.monotonic() + timeout
    while (review := client.get_review(review_id))["status"] != "scored":
        assert time.monotonic() < deadline, f"review {review_id} still pending after {timeout} s"
        time.sleep(0.2)
    return review


def unique(title: str) -> str:
    return f"{title} {uuid.uuid4().hex[:6]}"


def write_review(page: Page, gateway: GatewayClient, content: str) -> dict:
    """Submit the review form; check the result shows what the gateway stored; return that."""
    fill(page, "review-content", content)
    page.locator("#submit-review").click()
    # The form clears its text in the same update that shows the new result.
    expect(page.locator("#review-content").get_by_role("textbox")).to_have_value("")
    result = page.locator("#review-result .review-result")
    review_id = int(result.locator(".result-heading").inner_text().split("#")[1])
    stored = gateway.get_review(review_id)
    assert stored["content"] == content and stored["status"] == "scored"
    expect(result.locator(".badge")).to_have_text(label_text(stored["sentiment_label"]))
    expect(result.locator(".result-confidence")).to_contain_text(f"{stored['sentiment_score']:.1%}")
    for label, probability in stored["probabilities"].items():
        row = result.locator(".prob-row", has_text=label_text(label))
        expect(row.locator(".prob-value")).to_have_text(f"{probability:.1%}")
    expect(result.locator(".result-model")).to_contain_text(stored["sentiment_model"])
    assert stored["stars"] is not None  # the tiny model has a rating head
    expect(result.locator(".result-stars")).to_contain_text(f"★ {stored['stars']:.1f}")
    return stored


def expect_statistics(page: Page, gateway: GatewayClient, movie_id: int) -> dict:
    """The Reviews tab's statistics match the gateway's rating of the movie; returns the rating."""
    rating = gateway.movie_rating(movie_id)
    stats = page.locator("#review-stats")
    expect(stats.locator('[data-stat="count"]')).to_have_text(str(rating["review_count"]))
    expect(stats.locator('[data-stat="average"]')).to_have_text(f"{rating['average_score']:.0%}")
    expect(stats.locator('[data-stat="stars"]')).to_have_text(f"★ {rating['average_stars']:.1f}")
    for label, ratio in rating["ratios"].items():
        expect(stats.locator('[data-stat="ratio"]')).to_contain_text(
            f"{label_text(label)} {ratio:.0%}"
        )
    for label, count in rating["counts"].items():  # one bar per label, drawn by Vega in the page
        bar = f'#label-chart [aria-label="감성: {label_text(label)}; 리뷰 수: {count}"]'
        expect(page.locator(bar)).to_have_count(1)
    if rating["scored_count"] > 1:  # the trend is a line from two scored reviews on
        expect(page.locator("#trend-chart .mark-line path")).to_be_visible()
    else:
        expect(page.locator("#trend-chart")).to_be_hidden()
    return rating


def test_a_visitor_adds_a_movie_reviews_it_and_sees_the_statistics_change(
    page: Page, ui_url: str, gateway: GatewayClient, poster_url: str
) -> None:
    page.goto(ui_url)
    status = page.locator("#service-status")
    expect(status).to_contain_text("게이트웨이: 정상")
    expect(status).to_contain_text("감성 모델: 정상")
    expect(status).to_contain_text(gateway.health()["model"])
    shot(page, "01-home")
    sign_in(page, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)

    title = unique("헤어질 결심")
    open_tab(page, "영화 추가")
    fill(page, "movie-title", title)
    fill(page, "movie-release_date", "2022-06-29")
    fill(page, "movie-director", "박찬욱")
    fill(page, "movie-genre", "드라마")
    fill(page, "movie-poster_url", "ftp://example.org/poster.png")
    page.locator("#add-movie-button").click()
    expect(page.locator("#poster_url-error")).to_contain_text("http")
    expect(page.locator("#title-error")).to_be_hidden()
    shot(page, "02-add-movie-validation")
    assert gateway.list_movies(q=title) == []

    fill(page, "movie-poster_url", poster_url)
    page.locator("#add-movie-button").click()
    expect(page.locator("#add-movie-notice")).to_contain_text(f"영화를 추가했습니다: {title}")
    expect(page.locator("#poster_url-error")).to_be_hidden()
    [movie] = gateway.list_movies(q=title)
    assert movie["poster_url"] == poster_url and movie["director"] == "박찬욱"
    shot(page, "03-add-movie-added")

    open_tab(page, "영화 목록")
    fill(page, "movie-search", "박찬욱")
    page.locator("#movie-search-button").click()
    card = page.locator(".movie-card", has_text=title)
    expect(card).to_contain_text("2022-06-29 · 박찬욱 · 드라마")
    expect(card.locator(".poster")).to_have_css("background-image", f'url("{poster_url}")')
    shot(page, "04-movies")

    choice = f"{title} (2022)"
    open_tab(page, "리뷰 작성")
    pick(page, "review-movie", choice)
    first = write_review(
        page, gateway, "배우들의 연기가 훌륭하고 영상미가 아름다워요. 또 보고 싶어요!"
    )
    shot(page, "05-review-positive")

    open_tab(page, "리뷰")
    pick(page, "reviews-filter", choice)
    before = expect_statistics(page, gateway, movie["id"])
    assert before["review_count"] == 1 and before["average_score"] == pytest.approx(
        first["positivity"]
    )
    shot(page, "06-reviews-after-one")

    open_tab(page, "리뷰 작성")
    second = write_review(page, gateway, "지루하고 시간이 아까웠어요. 이야기도 엉성합니다.")
    shot(page, "07-review-negative")

    open_tab(page, "리뷰")
    after = expect_statistics(page, gateway, movie["id"])
    assert after["review_count"] == 2
    assert after["average_score"] == pytest.approx((first["positivity"] + second["positivity"]) / 2)
    assert after["average_stars"] == pytest.approx((first["stars"] + second["stars"]) / 2)
    cards = page.locator("#review-list .review-card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0).locator(".review-content")).to_have_text(second["content"])  # newest first
    expect(cards.nth(1).locator(".review-content")).to_have_text(first["content"])
    expect(cards.nth(0).locator(".stars")).to_have_text(f"★ {second['stars']:.1f}")
    expect(cards.nth(1).locator(".stars")).to_have_text(f"★ {first['stars']:.1f}")
    shot(page, "08-reviews-after-two")

    open_tab(page, "영화 목록")
    page.locator("#movie-search-button").click()
    expect(card.locator(".movie-rating")).to_contain_text(f"★ {after['average_stars']:.1f}")


def test_markup_in_reviews_and_titles_is_shown_as_text(
    page: Page, ui_url: str, gateway: GatewayClient
) -> None:
    title = unique("<b>괴물</b>")
    movie = gateway.create_movie({"title": title})
    gateway.create_review(movie_id=movie["id"], author="<i>관객</i>", content=HOSTILE)

    page.goto(ui_url)
    open_tab(page, "리뷰")
    pick(page, "reviews-filter", title)
    card = page.locator("#review-list .review-card")
    expect(page.locator("#review-stats [data-stat=count]")).to_have_text("1")
    expect(card).to_have_count(1)
    expect(card.locator(".review-content")).to_have_text(HOSTILE)
    expect(card.locator(".review-author")).to_have_text("<i>관객</i>")
    expect(card.locator(".review-movie")).to_have_text(title)
    shot(page, "09-markup-shown-as-text")

    open_tab(page, "영화 목록")
    fill(page, "movie-search", title)
    page.locator("#movie-search-button").click()
    expect(page.locator(".movie-card")).to_have_count(1)
    expect(page.locator(".movie-card .movie-title")).to_have_text(title)
    assert (
        page.locator("#review-list img, #review-list script, #review-list b, #movie-list b").count()
        == 0
    )
    assert page.evaluate("window.__xss") is None


def test_deleting_a_movie_asks_for_confirmation_first(
    page: Page, ui_url: str, gateway: GatewayClient
) -> None:
    title = unique("삭제할 영화")
    movie = gateway.create_movie({"title": title})

    page.goto(ui_url)
    sign_in(page, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
    open_tab(page, "영화 목록")
    pick(page, "delete-pick", title)
    page.locator("#delete-button").click()
    confirm = page.locator("#confirm-delete")
    expect(confirm).to_contain_text(f"‘{title}’ 영화와 그 리뷰를 모두 삭제할까요?")
    shot(page, "10-delete-confirmation")

    page.locator("#confirm-no").click()
    expect(confirm).to_be_hidden()
    assert gateway.get_movie(movie["id"])["title"] == title

    page.locator("#delete-button").click()
    page.locator("#confirm-yes").click()
    expect(page.locator("#movies-notice")).to_contain_text(f"영화를 삭제했습니다: {title}")
    expect(page.locator(".movie-card", has_text=title)).to_have_count(0)
    assert gateway.list_movies(q=title) == []


def test_a_review_written_while_the_model_is_down_shows_pending_then_its_label(
    page: Page, postgres, model_service_url: str
) -> None:
    """A gateway whose model service is down keeps the review pending; once the model is back, its
    background scorer scores it and the page's refresh shows the label."""
    database_url = postgres.create_database("ui_pending")
    model_down = f"http://127.0.0.1:{free_port()}"
    with GatewayProcess(database_url, model_down, env=SHORT_CLAIMS) as gateway_process:
        client = GatewayClient(gateway_process.url, api_key=MACHINE_KEY)
        movie = client.create_movie({"title": "괴물", "release_date": "2006-07-27"})
        email, password = new_user(client, "관객")
        with UIProcess(gateway_process.url) as ui:
            page.goto(ui.url)
            expect(page.locator("#service-status")).to_contain_text("감성 모델: 응답 없음")
            sign_in(page, email, password)
            open_tab(page, "리뷰 작성")
            pick(page, "review-movie", "괴물 (2006)")
            fill(page, "review-content", "한강 장면이 정말 인상적이었어요")
            page.locator("#submit-review").click()
            result = page.locator("#review-result .review-result")
            expect(result).to_contain_text("채점 대기 중")
            expect(result).to_contain_text("모델이 돌아오면 자동으로 채점됩니다")
            expect(page.locator("#review-result .notice-error")).to_have_count(0)
            expect(result.locator(".result-stars")).to_have_count(0)  # none until it is scored
            shot(page, "11-review-pending")

            gateway_process.stop()
            gateway_process.env["MODEL_SERVICE_URL"] = model_service_url
            gateway_process.start()
            [review] = client.list_reviews(movie_id=movie["id"])
            stored = wait_for_score(client, review["id"])
            page.locator("#refresh-review").click()
            expect(result.locator(".badge")).to_have_text(label_text(stored["sentiment_label"]))
            expect(result.locator(".result-stars")).to_contain_text(f"★ {stored['stars']:.1f}")
            expect(page.locator("#refresh-review")).to_be_hidden()
            shot(page, "12-review-scored-after-refresh")
        client.close()


def test_a_signed_out_visitor_reads_but_sees_no_controls_to_change_anything(
    page: Page, ui_url: str, gateway: GatewayClient
) -> None:
    title = unique("읽기만")
    movie = gateway.create_movie({"title": title})
    gateway.create_review(movie_id=movie["id"], author="기계", content="누구나 읽는 리뷰입니다")

    page.goto(ui_url)
    open_tab(page, "영화 추가")
    expect(page.locator("#add-movie-button")).to_be_hidden()
    expect(page.get_by_text("영화 추가와 삭제는 관리자만 할 수 있습니다.")).to_be_visible()
    open_tab(page, "영화 목록")
    expect(page.locator(".movie-card", has_text=title)).to_be_visible()
    expect(page.locator("#delete-button")).to_be_hidden()
    open_tab(page, "리뷰 작성")
    expect(page.locator("#submit-review")).to_be_hidden()
    open_tab(page, "리뷰")
    pick(page, "reviews-filter", title)
    expect(page.locator("#review-list .review-card")).to_have_count(1)
    expect(page.locator("#delete-review")).to_be_hidden()
    expect(page.locator("#edit-review")).to_be_hidden()
    shot(page, "13-signed-out-reads-only")


def test_a_user_deletes_their_own_review_and_cannot_delete_anothers(
    page: Page, ui_url: str, gateway: GatewayClient, gateway_url: str
) -> None:
    title = unique("내 리뷰")
    movie = gateway.create_movie({"title": title})
    email, password = new_user(gateway, "작성자")
    as_the_user = GatewayClient(gateway_url)
    token = as_the_user.sign_in(email=email, password=password)
    mine = as_the_user.create_review(
        movie_id=movie["id"], content="내가 쓴 리뷰입니다", token=token
    )
    as_the_user.close()
    others = gateway.create_review(movie_id=movie["id"], author="남", content="남이 쓴 리뷰입니다")

    page.goto(ui_url)
    sign_in(page, email, password)
    open_tab(page, "영화 추가")
    expect(page.locator("#add-movie-button")).to_be_hidden()  # a user is not an admin
    open_tab(page, "리뷰")
    pick(page, "reviews-filter", title)
    expect(page.locator("#review-list .review-card")).to_have_count(2)
    page.locator("#manage-pick input").click()
    options = page.get_by_role("option")
    expect(options).to_have_count(1)  # only their own review is offered
    expect(options).to_have_accessible_name(f"#{mine['id']} 내가 쓴 리뷰입니다")
    options.click()
    shot(page, "14-user-manages-own-review")
    page.locator("#delete-review").click()
    expect(page.locator("#manage-notice")).to_contain_text("리뷰를 삭제했습니다")
    expect(page.locator("#review-list .review-card")).to_have_count(1)
    expect(page.locator("#delete-review")).to_be_hidden()  # nothing of theirs is left
    assert [r["id"] for r in gateway.list_reviews(movie_id=movie["id"])] == [others["id"]]
