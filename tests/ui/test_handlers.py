"""The UI's handlers with the gateway client replaced: what each shows for each answer it gets.

The client itself is tested against a real gateway in test_client.py; here the point is what a
person sees (messages next to fields, pending notes, pages), so a stand-in gateway is enough.
"""

import gradio as gr
import pytest

from ui import app
from ui.client import GatewayError

TITLE_TOO_LONG = "String should have at most 200 characters"
USER = {"token": "user-token", "user": {"id": 7, "display_name": "관객", "is_admin": False}}
OTHER = {"token": "other-token", "user": {"id": 8, "display_name": "남", "is_admin": False}}
ADMIN = {"token": "admin-token", "user": {"id": 1, "display_name": "관리자", "is_admin": True}}
VISITORS = {visitor["token"]: visitor["user"] for visitor in (USER, OTHER, ADMIN)}


class StandInGateway:
    """Answers like the gateway would, from memory; `down` makes every call fail to connect."""

    def __init__(self) -> None:
        self.movies = {1: {"id": 1, "title": "기생충", "release_date": "2019-05-30"}}
        self.reviews: dict[int, dict] = {}
        self.down = False
        self.model_up = True

    def _check(self) -> None:
        if self.down:
            raise GatewayError("Cannot reach the gateway at http://127.0.0.1:9")

    def health(self):
        self._check()
        return {"database": "ok", "model_service": "ok" if self.model_up else "unavailable"}

    def list_movies(self, *, q=None, skip=0, limit=100):
        self._check()
        return [m for m in self.movies.values() if not q or q in m["title"]][skip : skip + limit]

    def get_movie(self, movie_id):
        self._check()
        if movie_id not in self.movies:
            raise GatewayError("Movie not found", status_code=404)
        return self.movies[movie_id]

    def _caller(self, token):
        if token not in VISITORS:
            raise GatewayError("Sign in first", status_code=401)
        return VISITORS[token]

    def sign_in(self, *, email, password):
        self._check()
        if password != "correct password":
            raise GatewayError("Wrong email or password", status_code=401)
        return {"user@example.org": "user-token", "admin@localhost": "admin-token"}[email]

    def me(self, *, token):
        return self._caller(token)

    def create_movie(self, movie, *, token=None):
        self._check()
        if not self._caller(token)["is_admin"]:
            raise GatewayError("Only an admin may do this", status_code=403)
        if len(movie["title"]) > 200:
            raise GatewayError(
                f"title: {TITLE_TOO_LONG}", status_code=422, field_errors={"title": TITLE_TOO_LONG}
            )
        created = {"id": max(self.movies) + 1, **movie}
        self.movies[created["id"]] = created
        return created

    def delete_movie(self, movie_id, *, token=None):
        self._check()
        self._caller(token)
        del self.movies[movie_id]
        return {"message": "Movie deleted successfully"}

    def create_review(self, *, movie_id, content, token=None, author=None):
        self.get_movie(movie_id)
        caller = self._caller(token)
        review = {
            "id": len(self.reviews) + 1,
            "movie_id": movie_id,
            "user_id": caller["id"],
            "author": caller["display_name"],
            "content": content,
            "status": "pending",
            "sentiment_label": None,
            "created_at": "2026-11-21T10:00:00+00:00",
        }
        self.reviews[review["id"]] = review
        if self.model_up:
            self.score(review["id"])
        return dict(review)

    def score(self, review_id):
        self.reviews[review_id].update(
            status="scored",
            sentiment_label="negative",
            sentiment_score=0.7,
            positivity=0.2,
            probabilities={"negative": 0.7, "neutral": 0.2, "positive": 0.1},
            sentiment_model="korean-sentiment:test",
        )

    def _owned(self, review_id, token):
        caller = self._caller(token)
        if not caller["is_admin"] and self.reviews[review_id]["user_id"] != caller["id"]:
            raise GatewayError(
                "Only the review's author or an admin may change it", status_code=403
            )
        return self.reviews[review_id]

    def update_review(self, review_id, *, content, token=None):
        self._owned(review_id, token)["content"] = content
        return dict(self.reviews[review_id])

    def delete_review(self, review_id, *, token=None):
        self._owned(review_id, token)
        del self.reviews[review_id]
        return {"message": "Review deleted successfully"}

    def get_review(self, review_id):
        self._check()
        return dict(self.reviews[review_id])

    def list_reviews(self, *, movie_id=None, skip=0, limit=10):
        self._check()
        chosen = [r for r in reversed(self.reviews.values()) if movie_id in (None, r["movie_id"])]
        return chosen[skip : skip + limit]

    def movie_rating(self, movie_id):
        self._check()
        mine = [r for r in self.reviews.values() if r["movie_id"] == movie_id]
        scored = [r for r in mine if r["status"] == "scored"]
        counts = {
            label: sum(r["sentiment_label"] == label for r in scored)
            for label in ("negative", "neutral", "positive")
        }
        return {
            "movie_id": movie_id,
            "average_score": sum(r["positivity"] for r in scored) / len(scored) if scored else None,
            "review_count": len(mine),
            "scored_count": len(scored),
            "counts": counts,
            "ratios": {label: n / len(scored) if scored else 0.0 for label, n in counts.items()},
        }


@pytest.fixture
def gateway(monkeypatch):
    stand_in = StandInGateway()
    monkeypatch.setattr(app, "client", stand_in)
    return stand_in


def test_validation_message_goes_next_to_its_field_and_the_form_is_kept(gateway):
    notice, *rest = app.add_movie(ADMIN, "가" * 201, "2019-05-30", "", "", "")
    errors, values = rest[:5], rest[5:]
    assert "입력값을 확인해 주세요" in notice.value
    assert TITLE_TOO_LONG in errors[0].value and errors[0].visible is True
    assert [error.visible for error in errors[1:]] == [app.HIDDEN] * 4
    assert all(isinstance(value, type(gr.skip())) for value in values)


def test_added_movie_clears_the_form_and_leaves_out_blank_fields(gateway):
    notice, *rest = app.add_movie(ADMIN, "  헤어질 결심 ", "2022-06-29", " ", "", "")
    errors, values = rest[:5], rest[5:]
    assert "영화를 추가했습니다: 헤어질 결심" in notice.value
    assert [error.visible for error in errors] == [app.HIDDEN] * 5 and values == [""] * 5
    assert gateway.movies[2] == {"id": 2, "title": "헤어질 결심", "release_date": "2022-06-29"}


def test_delete_asks_first_and_deletes_only_on_confirmation(gateway):
    row, question, _ = app.ask_delete(1)
    assert row.visible is True and "기생충" in question and 1 in gateway.movies
    row, notice, listing, _ = app.confirm_delete(ADMIN, 1, "")
    assert row.visible == app.HIDDEN and "영화를 삭제했습니다: 기생충" in notice.value
    assert 1 not in gateway.movies and "등록된 영화가 없습니다" in listing


def test_pending_review_shows_a_note_then_its_label_after_refresh(gateway):
    gateway.model_up = False
    result, review_id, button, content = app.submit_review(USER, 1, "배우들 연기가 아쉬웠어요")
    assert "채점 대기 중" in result and "notice-error" not in result and button.visible is True
    assert content == ""  # stored: the form is ready for the next review

    result, button = app.refresh_review(review_id)
    assert "채점 대기 중" in result and button.visible is True

    gateway.score(review_id)
    result, button = app.refresh_review(review_id)
    assert "😞 부정" in result and "70.0%" in result and button.visible == app.HIDDEN


def test_a_refused_review_keeps_its_text(gateway):
    result, review_id, _, content = app.submit_review(USER, 999, "없는 영화에 쓴 리뷰")
    assert "Movie not found" in result and "notice-error" in result
    assert review_id is None and isinstance(content, type(gr.skip()))


def test_unreachable_gateway_is_a_readable_message_everywhere(gateway):
    gateway.down = True
    for shown in (
        app.show_movies(""),
        app.submit_review(USER, 1, "재미있어요 정말로")[0],
        app.show_reviews(1)[0],
    ):
        assert "게이트웨이에 연결할 수 없습니다" in shown
    assert "dot down" in app.show_status()


def test_all_movies_lists_reviews_without_charts_and_a_movie_gets_its_statistics(gateway):
    for content in ("첫 번째 리뷰입니다", "두 번째 리뷰입니다"):
        app.submit_review(USER, 1, content)
    stats, bars, line, listing, *_ = app.show_reviews(app.ALL_MOVIES)
    assert "영화를 고르면" in stats and bars.visible == app.HIDDEN and line.visible == app.HIDDEN
    assert listing.index("두 번째") < listing.index("첫 번째")  # newest first

    gateway.movies[2] = {"id": 2, "title": "괴물"}
    gateway.model_up = False
    app.submit_review(USER, 2, "아직 채점 안 된 리뷰")
    stats, bars, line, *_ = app.show_reviews(2)
    assert "아직 채점된 리뷰가 없습니다" in stats and bars.visible == app.HIDDEN  # nothing to draw

    stats, bars, line, *_ = app.show_reviews(1)
    assert 'data-stat="count">2<' in stats and "부정 100%" in stats and line.visible is True
    assert bars.visible is True and bars.value["data"]  # the label distribution has rows


def test_pages_move_by_ten_and_stop_at_the_ends(gateway):
    for n in range(12):
        app.submit_review(USER, 1, f"리뷰 번호 {n:02d} 입니다")
    *_, listing, label, page, previous, following, _, _ = app.show_reviews(1)
    assert page == 0 and previous.interactive is False and following.interactive is True
    assert listing.count('class="review-card"') == 10 and "리뷰 번호 11" in listing
    *_, listing, label, page, previous, following, _, _ = app.next_page(1, page)
    assert page == 1 and label == "2 페이지" and previous.interactive is True
    assert following.interactive is False and listing.count('class="review-card"') == 2


def test_each_visitor_sees_only_the_controls_the_gateway_lets_them_use(gateway):
    def visible(visitor):
        add_form, _, movie_admin, review_form, write_note = app.show_access(visitor)
        return (add_form.visible, movie_admin.visible, review_form.visible, write_note.visible)

    assert visible(None) == (False, False, False, True)
    assert visible(USER) == (False, False, True, app.HIDDEN)
    assert visible(ADMIN) == (True, True, True, app.HIDDEN)


def test_signing_in_keeps_the_token_in_the_session_and_a_wrong_password_says_so(gateway):
    visitor, notice, password = app.sign_in("user@example.org", "correct password")
    assert visitor == USER and "관객 님으로 로그인했습니다" in notice and password == ""
    visitor, notice, _ = app.sign_in("user@example.org", "wrong")
    assert visitor is None and "Wrong email or password" in notice
    assert app.sign_out()[0] is None


def test_a_visitor_is_offered_edit_and_delete_for_their_own_reviews_only(gateway):
    app.submit_review(USER, 1, "내가 쓴 리뷰입니다")
    app.submit_review(OTHER, 1, "남이 쓴 리뷰입니다")

    *_, row, pick = app.show_reviews(1, 0, USER)
    assert row.visible is True and [label for label, _ in pick.choices] == ["#1 내가 쓴 리뷰입니다"]
    *_, row, pick = app.show_reviews(1, 0, None)
    assert row.visible is False and pick.choices == []
    *_, row, pick = app.show_reviews(1, 0, ADMIN)
    assert sorted(review_id for _, review_id in pick.choices) == [1, 2]

    notice, *_ = app.delete_review(USER, 2, 1, 0)  # not theirs: the gateway refuses
    assert "Only the review&#x27;s author" in notice.value and 2 in gateway.reviews
    notice, *_ = app.delete_review(USER, 1, 1, 0)
    assert "리뷰를 삭제했습니다" in notice.value and 1 not in gateway.reviews


def test_movie_cards_show_each_movies_rating_and_review_count(gateway):
    app.submit_review(USER, 1, "첫 번째 리뷰입니다")
    cards = app.show_movies("")
    assert "긍정도 20%" in cards and "리뷰 1개" in cards
