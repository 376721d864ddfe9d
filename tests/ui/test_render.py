"""What the UI draws from the gateway's JSON: user text stays text, numbers add up."""

import re

import pytest

from ui import render
from ui.client import GatewayError
from ui.settings import settings

HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)"> ${document.cookie} {{value}}'
KOREAN = "정말 최고의 영화였어요! 배우들 연기가 💯"


def _review(**overrides):
    review = {
        "id": 7,
        "movie_id": 1,
        "author": "관객",
        "content": KOREAN,
        "status": "scored",
        "sentiment_label": "positive",
        "sentiment_score": 0.8123,
        "positivity": 0.85,
        "probabilities": {"negative": 0.0877, "neutral": 0.1, "positive": 0.8123},
        "stars": 8.37,
        "sentiment_model": "korean-sentiment:20261121-ab12cd",
        "created_at": "2026-11-21T10:30:00+00:00",
    }
    return {**review, **overrides}


def _tags(fragment: str) -> set[str]:
    return set(re.findall(r"<([a-zA-Z]+)", fragment))


def test_escape_turns_markup_and_template_syntax_into_text():
    escaped = render.escape(HOSTILE + KOREAN)
    assert "<" not in escaped and ">" not in escaped
    assert "{" not in escaped and "}" not in escaped and "$" not in escaped
    assert KOREAN in escaped  # Korean and emoji pass through untouched


def test_review_cards_show_hostile_content_author_and_title_as_text():
    review = _review(content=HOSTILE, author="<b>bold</b>")
    fragment = render.review_cards([review], {1: '<iframe src="x">'})
    assert _tags(fragment) == {"div", "span"}  # only the card's own markup
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in fragment
    assert "&lt;b&gt;bold&lt;/b&gt;" in fragment
    assert "&lt;iframe" in fragment


def test_movie_cards_escape_text_and_show_only_http_posters():
    movies = [
        {"id": 1, "title": "<script>x</script>", "poster_url": "https://example.org/p.jpg"},
        {"id": 2, "title": "기생충", "poster_url": "javascript:alert(1)", "director": "봉준호"},
        {"id": 3, "title": "괴물", "poster_url": 'https://example.org/a");background:url("x'},
    ]
    fragment = render.movie_cards(movies)
    assert fragment.count("background-image:url(") == 2
    assert "url(&quot;https://example.org/p.jpg&quot;)" in fragment
    assert "url(&quot;https://example.org/a%22%29;background:url%28%22x&quot;)" in fragment
    assert "javascript:" not in fragment and "포스터 없음" in fragment
    assert "&lt;script&gt;x&lt;/script&gt;" in fragment
    assert "기생충" in fragment and "봉준호" in fragment


def test_movie_cards_show_average_stars_beside_the_rating_and_nothing_without_stars():
    movies = [{"id": 1, "title": "괴물"}, {"id": 2, "title": "마더"}]
    ratings = {
        1: {"average_score": 0.8, "average_stars": 8.27, "review_count": 3},
        2: {"average_score": 0.4, "average_stars": None, "review_count": 1},
    }
    first, second = render.movie_cards(movies, ratings=ratings).split('<div class="movie-card">')[
        1:
    ]
    assert '<div class="movie-rating">★ 8.3 · 긍정도 80% · 리뷰 3개</div>' in first
    assert '<div class="movie-rating">긍정도 40% · 리뷰 1개</div>' in second


def test_empty_movie_list_says_so_differently_after_a_search():
    assert render.movie_cards([]) != render.movie_cards([], searched=True)


def test_scored_result_shows_label_confidence_bars_and_model():
    fragment = render.review_result(_review())
    assert "😊 긍정" in fragment
    assert "81.2%" in fragment  # confidence
    assert "width:81.2%" in fragment and "width:8.8%" in fragment and "width:10.0%" in fragment
    assert "korean-sentiment:20261121-ab12cd" in fragment


def test_a_review_shows_its_stars_and_nothing_where_it_has_none():
    with_stars = render.review_cards([_review()], {})
    without = render.review_cards([_review(stars=None)], {})
    pending = render.review_cards([_review(status="pending", sentiment_label=None)], {})

    assert '<span class="stars" title="예상 별점">★ 8.4</span>' in with_stars
    assert "★" not in without and "★" not in pending
    assert "예상 별점: <b>★ 8.4</b>" in render.review_result(_review())
    assert "★" not in render.review_result(_review(stars=None))
    assert "별점" not in render.review_result(_review(stars=None))


def test_pending_result_is_a_note_not_an_error():
    pending = _review(
        status="pending",
        sentiment_label=None,
        sentiment_score=None,
        positivity=None,
        probabilities=None,
        stars=None,
        sentiment_model=None,
    )
    fragment = render.review_result(pending)
    assert "채점 대기 중" in fragment and "자동으로 채점" in fragment
    assert "notice-error" not in fragment and "긍정" not in fragment


def test_statistics_show_average_count_and_ratios():
    rating = {
        "movie_id": 1,
        "average_score": 0.625,
        "average_stars": 6.125,
        "review_count": 5,
        "scored_count": 4,
        "stars_count": 3,
        "counts": {"positive": 2, "neutral": 1, "negative": 1},
        "ratios": {"positive": 0.5, "neutral": 0.25, "negative": 0.25},
    }
    fragment = render.statistics(rating)
    assert 'data-stat="average">62%<' in fragment or 'data-stat="average">63%<' in fragment
    assert 'data-stat="count">5<' in fragment and "채점 완료 4개" in fragment
    assert 'data-stat="stars">★ 6.1<' in fragment and "별점 있는 리뷰 3개" in fragment
    assert "😊 긍정 50%" in fragment and "😐 중립 25%" in fragment and "😞 부정 25%" in fragment


def test_statistics_of_a_movie_without_scored_reviews():
    rating = {"movie_id": 1, "average_score": None, "review_count": 2, "scored_count": 0}
    rating |= {"average_stars": None, "stars_count": 0}
    fragment = render.statistics(rating)
    assert 'data-stat="average">–<' in fragment and 'data-stat="count">2<' in fragment
    assert 'data-stat="stars">–<' in fragment and "★" not in fragment
    assert "아직 채점된 리뷰가 없습니다" in fragment and "0%" not in fragment


def test_label_distribution_counts_every_label():
    table = render.label_distribution({"counts": {"positive": 3, "negative": 1}})
    assert table.to_dict("list") == {
        "감성": ["😊 긍정", "😐 중립", "😞 부정"],
        "리뷰 수": [3, 0, 1],
    }


def test_positivity_trend_is_a_running_average_of_scored_reviews_oldest_first():
    reviews = [
        _review(id=3, positivity=0.2, created_at="2026-11-21T12:00:00+00:00"),
        _review(id=2, status="pending", positivity=None, created_at="2026-11-21T11:00:00+00:00"),
        _review(id=1, positivity=1.0, created_at="2026-11-21T10:00:00+00:00"),
    ]
    table = render.positivity_trend(reviews)
    assert table["평균 긍정도"].tolist() == [1.0, 0.6]
    assert table["작성 시각"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("health", "up_count"),
    [
        ({"database": "ok", "model_service": "ok", "model": "korean-sentiment:v1"}, 3),
        ({"database": "ok", "model_service": "unavailable", "model": None}, 2),
        ({"database": "unavailable", "model_service": "unavailable", "model": None}, 1),
    ],
)
def test_status_panel_marks_each_part(health, up_count):
    fragment = render.status_panel(health)
    assert fragment.count('class="dot up"') == up_count
    assert fragment.count('class="dot down"') == 3 - up_count
    assert ("korean-sentiment:v1" in fragment) == (health["model"] is not None)


def test_unreachable_gateway_reads_as_a_sentence():
    fragment = render.error_notice(GatewayError("Cannot reach the gateway at http://x"))
    assert "게이트웨이에 연결할 수 없습니다" in fragment and "Traceback" not in fragment


def test_review_times_show_in_the_ui_time_zone(monkeypatch):
    monkeypatch.setattr(settings, "ui_timezone", "Asia/Seoul")
    fragment = render.review_cards([_review(created_at="2026-11-21T18:30:00Z")], {})
    assert "2026-11-22 03:30" in fragment  # UTC+9
    table = render.positivity_trend([_review(created_at="2026-11-21T18:30:00")])  # no zone: UTC
    assert str(table["작성 시각"][0]) == "2026-11-22 03:30:00"
