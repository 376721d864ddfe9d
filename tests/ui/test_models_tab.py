"""The 모델 tab in headless Chromium, over a real gateway that shadows a disagreeing candidate:
the page shows what GET /models/comparison says."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from stack.parts import GatewayProcess, UIProcess
from tests.ui.test_browser import CHROMIUM_ARGS, open_tab, shot
from ui.client import GatewayClient

pytestmark = pytest.mark.integration

API_KEY = "models-tab-key"  # writes as a machine client, as they will once writes need a user
TEXTS = ["정말 재밌는 영화였어요", "돈 아깝다 최악", "그냥 그랬다 보통", "배우 연기가 최고"]


@pytest.fixture(scope="module")
def shadowed(postgres, model_service_url, candidate_service_url) -> Iterator[tuple[str, str]]:
    """A gateway shadowing the candidate, and a UI over it: their URLs."""
    database_url = postgres.create_database(f"models_tab_{uuid.uuid4().hex[:8]}")
    env = {"GATEWAY_API_KEYS": API_KEY, "SHADOW_MODEL_SERVICE_URL": candidate_service_url}
    with (
        GatewayProcess(database_url, model_service_url, env) as gateway,
        UIProcess(gateway.url) as ui,
    ):
        yield gateway.url, ui.url


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR")
        context.set_default_timeout(20_000)
        yield context.new_page()
        browser.close()


def test_the_models_tab_shows_the_comparison(shadowed, page, tiny_model_tag, candidate_model_tag):
    gateway_url, ui_url = shadowed
    writer = GatewayClient(gateway_url, api_key=API_KEY)
    movie = writer.create_movie({"title": "비교용 영화"})
    for text in TEXTS:
        writer.create_review(movie_id=movie["id"], author="a", content=text)
    deadline = time.monotonic() + 60
    while (comparison := _comparison(writer))["n"] < len(TEXTS):
        assert time.monotonic() < deadline, comparison
        time.sleep(0.3)
    writer.close()

    page.goto(ui_url)
    open_tab(page, "모델")

    summary = page.locator("#models-summary")
    expect(summary.locator('[data-model="models_live"]')).to_have_text(tiny_model_tag)
    expect(summary.locator('[data-model="models_candidate"]')).to_have_text(candidate_model_tag)
    expect(summary.locator('[data-stat="agreement"]')).to_have_text(
        f"{comparison['agreement']:.0%}"
    )
    heatmap = page.locator("#confusion-heatmap")
    for live, row in comparison["confusion"].items():
        for candidate, count in row.items():
            expect(heatmap.locator(f'[data-cell="{live}-{candidate}"]')).to_have_text(str(count))
    cards = page.locator("#disagreements .review-card")
    expect(cards).to_have_count(len(comparison["disagreements"]))
    expect(page.locator("#shift-chart")).to_be_visible()
    shot(page, "models-tab")


def _comparison(client: GatewayClient) -> dict:
    try:
        return client.model_comparison()
    except Exception:  # no candidate prediction stored yet: 404
        return {"n": 0}
