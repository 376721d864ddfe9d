"""Every gateway endpoint, through a real gateway on PostgreSQL scored by a real model service."""

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from stack.parts import MACHINE_HEADERS

pytestmark = pytest.mark.integration

LABELS = ("negative", "neutral", "positive")
MISSING = 2_000_000_000  # a valid id no row has


@pytest.fixture(scope="module")
def api(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, headers=MACHINE_HEADERS, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def served_model(model_service_url: str) -> str:
    return httpx.post(f"{model_service_url}/model", json={}, timeout=30).json()["model"]


def create_movie(api: httpx.Client, **fields) -> dict:
    response = api.post("/movies/", json={"title": "영화", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def create_review(api: httpx.Client, movie_id: int, content: str, author: str = "관객") -> dict:
    response = api.post(
        "/reviews/", json={"movie_id": movie_id, "author": author, "content": content}
    )
    assert response.status_code == 201, response.text
    return response.json()


def assert_scored_like_the_model(review: dict, model_service_url: str) -> None:
    """The review carries exactly what the model service says about its content alone."""
    [expected] = httpx.post(
        f"{model_service_url}/classify", json={"texts": [review["content"]]}, timeout=30
    ).json()["predictions"]
    assert review["status"] == "scored"
    assert review["probabilities"] == expected["probabilities"]
    assert review["positivity"] == expected["positivity"]
    assert review["stars"] == expected.get("stars")  # a service older than stars sends none
    # The tiny model has three classes, so its label is the most probable one.
    probabilities = review["probabilities"]
    assert review["sentiment_label"] == max(probabilities, key=probabilities.get)
    assert review["sentiment_model"] == expected["model"]


def test_health_reports_database_model_service_and_the_served_tag(api, served_model):
    response = api.get("/health")

    assert response.status_code == 200
    health = response.json()
    assert (health["status"], health["database"], health["model_service"]) == ("ok", "ok", "ok")
    assert health["model"] == served_model
    assert health["pending_reviews"] >= 0


def test_a_movie_is_created_read_patched_and_deleted(api):
    created = create_movie(
        api,
        title="  기생충  ",
        release_date="2019-05-30",
        director="봉준호",
        genre="드라마",
        poster_url="https://posters.example/parasite.jpg",
    )
    assert {key: created[key] for key in ("title", "release_date", "director", "genre")} == {
        "title": "기생충",
        "release_date": "2019-05-30",
        "director": "봉준호",
        "genre": "드라마",
    }
    assert created["poster_url"] == "https://posters.example/parasite.jpg"
    assert api.get(f"/movies/{created['id']}").json() == created

    patched = api.patch(f"/movies/{created['id']}", json={"genre": "스릴러", "poster_url": None})

    assert patched.status_code == 200
    assert patched.json() == {**created, "genre": "스릴러", "poster_url": None}
    assert api.get(f"/movies/{created['id']}").json() == patched.json()

    deleted = api.delete(f"/movies/{created['id']}")

    assert (deleted.status_code, deleted.json()) == (200, {"message": "Movie deleted successfully"})
    assert api.get(f"/movies/{created['id']}").status_code == 404


def test_movies_are_listed_newest_first_and_paginated(api):
    ids = [create_movie(api, title=f"목록 {n}")["id"] for n in range(3)]

    newest_first = [movie["id"] for movie in api.get("/movies/", params={"limit": 3}).json()]
    middle = api.get("/movies/", params={"skip": 1, "limit": 1}).json()

    assert newest_first == ids[::-1]
    assert [movie["id"] for movie in middle] == [ids[1]]
    assert len(api.get("/movies/").json()) <= 100


def test_search_matches_title_director_or_genre_case_insensitively_and_literally(api):
    by_title = create_movie(api, title="Memories of Murder 검색")
    by_director = create_movie(api, title="검색 2", director="Bong Joon-ho")
    by_genre = create_movie(api, title="검색 3", genre="Crime_Thriller 100%")

    def found(q: str) -> set[int]:
        return {movie["id"] for movie in api.get("/movies/", params={"q": q, "limit": 500}).json()}

    assert by_title["id"] in found("memories")
    assert by_director["id"] in found("BONG JOON")
    assert found("crime_thriller 100%") >= {by_genre["id"]}
    assert by_title["id"] not in found("crime")
    assert found("100%") == {by_genre["id"]}
    assert found("_thriller") == {by_genre["id"]}  # _ and % are literal, not wildcards


def test_a_review_is_stored_and_scored_by_the_model_service(api, model_service_url, served_model):
    movie = create_movie(api, title="괴물")

    review = create_review(api, movie["id"], "  정말 최고의 영화, 배우들 연기가 대단했다  ")

    assert review["content"] == "정말 최고의 영화, 배우들 연기가 대단했다"
    assert (review["movie_id"], review["author"]) == (movie["id"], "관객")
    assert_scored_like_the_model(review, model_service_url)
    assert review["sentiment_model"] == served_model
    assert 1 <= review["stars"] <= 10  # the tiny model has a rating head
    assert sum(review["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert review["positivity"] == pytest.approx(
        review["probabilities"]["positive"] + 0.5 * review["probabilities"]["neutral"], abs=1e-4
    )
    assert review["sentiment_score"] == pytest.approx(
        review["probabilities"][review["sentiment_label"]]
    )
    assert api.get(f"/reviews/{review['id']}").json() == review


def test_reviews_posted_at_once_share_model_calls_and_each_gets_its_own_score(
    api, gateway_url, model_service_url
):
    movie = create_movie(api, title="동시에")
    contents = [
        f"{i}번째 관객의 감상:" + " 재미있다" * (i % 5) + " 지루했다" * (i % 3) for i in range(24)
    ]

    def post(content: str) -> dict:
        with httpx.Client(base_url=gateway_url, headers=MACHINE_HEADERS, timeout=30) as client:
            return create_review(client, movie["id"], content)

    with ThreadPoolExecutor(max_workers=len(contents)) as pool:
        reviews = list(pool.map(post, contents))

    # The gateway gathers these into shared /classify calls; a prediction handed to the wrong
    # review would show here as another text's probabilities.
    assert [review["content"] for review in reviews] == contents
    for review in reviews:
        assert_scored_like_the_model(review, model_service_url)
        assert api.get(f"/reviews/{review['id']}").json() == review


def test_reviews_are_listed_newest_first_overall_and_per_movie(api):
    movie, other = create_movie(api), create_movie(api)
    ids = [create_review(api, movie["id"], f"리뷰 순서 {n}번째")["id"] for n in range(3)]
    other_id = create_review(api, other["id"], "다른 영화의 리뷰")["id"]

    def listed(path: str, **params) -> list[int]:
        response = api.get(path, params=params)
        assert response.status_code == 200, response.text
        return [review["id"] for review in response.json()]

    assert listed(f"/reviews/movie/{movie['id']}") == ids[::-1]
    assert listed(f"/reviews/movie/{movie['id']}", skip=1, limit=1) == [ids[1]]
    assert listed("/reviews/", limit=4) == [other_id, *ids[::-1]]
    assert listed("/reviews/", skip=1, limit=2) == ids[:0:-1]
    assert len(listed("/reviews/")) <= 10


def test_patching_content_rescores_and_patching_the_author_does_not(api, model_service_url):
    movie = create_movie(api)
    review = create_review(api, movie["id"], "지루하고 별로였다")

    rewritten = api.patch(f"/reviews/{review['id']}", json={"content": "다시 보니 훌륭한 작품"})

    assert rewritten.status_code == 200
    assert rewritten.json()["content"] == "다시 보니 훌륭한 작품"
    assert rewritten.json()["created_at"] == review["created_at"]
    assert_scored_like_the_model(rewritten.json(), model_service_url)

    renamed = api.patch(f"/reviews/{review['id']}", json={"author": "새 이름"})

    assert renamed.json() == {**rewritten.json(), "author": "새 이름"}


def test_the_rating_is_the_mean_positivity_and_label_mix_of_the_scored_reviews(api):
    movie = create_movie(api)
    texts = ["최고의 영화", "완전 최악이다", "그냥 그랬어요", "배우 연기가 좋았다", "시간 아깝다"]
    reviews = [create_review(api, movie["id"], text) for text in texts]
    assert {review["status"] for review in reviews} == {"scored"}

    rating = api.get(f"/reviews/movie/{movie['id']}/rating").json()

    counts = {label: sum(r["sentiment_label"] == label for r in reviews) for label in LABELS}
    stars = [r["stars"] for r in reviews if r["stars"] is not None]
    assert rating == {
        "movie_id": movie["id"],
        "average_score": pytest.approx(sum(r["positivity"] for r in reviews) / len(reviews)),
        "average_stars": pytest.approx(sum(stars) / len(stars)) if stars else None,
        "review_count": 5,
        "scored_count": 5,
        "stars_count": len(stars),
        "counts": counts,
        "ratios": pytest.approx({label: count / 5 for label, count in counts.items()}),
    }
    assert math.isclose(sum(rating["ratios"].values()), 1)


def test_a_movie_without_reviews_has_an_empty_rating(api):
    movie = create_movie(api)

    assert api.get(f"/reviews/movie/{movie['id']}/rating").json() == {
        "movie_id": movie["id"],
        "average_score": None,
        "average_stars": None,
        "review_count": 0,
        "scored_count": 0,
        "stars_count": 0,
        "counts": dict.fromkeys(LABELS, 0),
        "ratios": dict.fromkeys(LABELS, 0.0),
    }


def test_deleting_a_movie_deletes_its_reviews(api):
    movie, other = create_movie(api), create_movie(api)
    doomed = [create_review(api, movie["id"], f"사라질 리뷰 {n}")["id"] for n in range(3)]
    kept = create_review(api, other["id"], "남을 리뷰입니다")["id"]

    assert api.delete(f"/movies/{movie['id']}").status_code == 200

    assert [api.get(f"/reviews/{review_id}").status_code for review_id in doomed] == [404] * 3
    assert api.get(f"/reviews/movie/{movie['id']}").status_code == 404
    assert api.get(f"/reviews/{kept}").status_code == 200
    listed = {review["id"] for review in api.get("/reviews/", params={"limit": 500}).json()}
    assert not listed & set(doomed)


def test_a_review_is_deleted(api):
    review = create_review(api, create_movie(api)["id"], "지울 리뷰입니다")

    deleted = api.delete(f"/reviews/{review['id']}")

    assert (deleted.status_code, deleted.json()) == (
        200,
        {"message": "Review deleted successfully"},
    )
    assert api.get(f"/reviews/{review['id']}").status_code == 404


def test_openapi_docs_are_served_and_describe_the_error_bodies(api):
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/movies/", "/reviews/", "/reviews/movie/{movie_id}/rating", "/health"} <= set(paths)
    responses = paths["/reviews/"]["post"]["responses"]
    schemas = {
        code: body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for code, body in responses.items()
    }
    expected = {"201": "ReviewRead", "404": "ErrorBody", "422": "InvalidInput", "503": "ErrorBody"}
    assert {code: schemas.get(code) for code in expected} == expected


# (method, path, JSON body, status, what the detail says); {movie} and {review} are real ids.
CLIENT_ERRORS = [
    ("POST", "/movies/", {}, 422, "title: Field required"),
    ("POST", "/movies/", {"title": "   "}, 422, "title: String should have at least 1"),
    ("POST", "/movies/", {"title": "가" * 201}, 422, "title: String should have at most 200"),
    ("POST", "/movies/", {"title": "t", "director": "d" * 101}, 422, "director: String should"),
    ("POST", "/movies/", {"title": "t", "genre": "g" * 101}, 422, "genre: String should"),
    ("POST", "/movies/", {"title": "t", "release_date": "2019-02-30"}, 422, "release_date:"),
    ("POST", "/movies/", {"title": "t", "release_date": 0}, 422, "YYYY-MM-DD"),
    ("POST", "/movies/", {"title": "t", "release_date": "2019-05-30T00:00"}, 422, "YYYY-MM-DD"),
    (
        "POST",
        "/movies/",
        {"title": "t", "poster_url": "ftp://x.example/p"},
        422,
        "http:// or https://",
    ),
    ("POST", "/movies/", {"title": "t", "poster_url": "javascript:alert(1)"}, 422, "https://"),
    (
        "POST",
        "/movies/",
        {"title": "t", "poster_url": "https://x/" + "p" * 500},
        422,
        "at most 500",
    ),
    ("POST", "/movies/", {"title": "a\x00b"}, 422, "control characters"),
    ("POST", "/movies/", [1, 2], 422, "body: Input should be a valid dictionary"),
    ("PATCH", "/movies/{movie}", {"title": None}, 422, "title: may be left out"),
    ("PATCH", "/movies/{movie}", {"poster_url": "not a url"}, 422, "poster_url:"),
    (
        "POST",
        "/reviews/",
        {"movie_id": MISSING, "author": "a", "content": "내용 다섯자"},
        404,
        "Movie not found",
    ),
    (
        "POST",
        "/reviews/",
        {"movie_id": -1, "author": "a", "content": "내용 다섯자"},
        404,
        "Movie not found",
    ),
    (
        "POST",
        "/reviews/",
        {"movie_id": 10**30, "author": "a", "content": "내용 다섯자"},
        404,
        "Movie not found",
    ),
    (
        "POST",
        "/reviews/",
        {"movie_id": "{movie}", "author": "a", "content": "  넷글자  "},
        422,
        "content: String should have at least 5",
    ),
    (
        "POST",
        "/reviews/",
        {"movie_id": "{movie}", "author": "a", "content": "x" * 2001},
        422,
        "content: String should have at most 2000",
    ),
    (
        "POST",
        "/reviews/",
        {"movie_id": "{movie}", "author": "a" * 101, "content": "내용 다섯자"},
        422,
        "author: String should have at most 100",
    ),
    (
        "POST",
        "/reviews/",
        {"movie_id": "{movie}", "content": "내용 다섯자"},
        422,
        "author: Field required",
    ),
    (
        "POST",
        "/reviews/",
        {"movie_id": "abc", "author": "a", "content": "내용 다섯자"},
        422,
        "movie_id: Input should be a valid integer",
    ),
    ("PATCH", "/reviews/{review}", {"content": "짧다"}, 422, "content: String should"),
    ("PATCH", "/reviews/{review}", {"content": None}, 422, "content: may be left out"),
    ("GET", "/movies/{missing}", None, 404, "Movie not found"),
    ("GET", "/movies/0", None, 404, "Movie not found"),
    ("GET", "/movies/-5", None, 404, "Movie not found"),
    ("GET", "/movies/99999999999999999999999", None, 404, "Movie not found"),
    ("GET", "/movies/abc", None, 422, "movie_id: Input should be a valid integer"),
    ("PATCH", "/movies/{missing}", {"title": "t"}, 404, "Movie not found"),
    ("DELETE", "/movies/{missing}", None, 404, "Movie not found"),
    ("GET", "/reviews/{missing}", None, 404, "Review not found"),
    ("PATCH", "/reviews/{missing}", {"author": "b"}, 404, "Review not found"),
    ("DELETE", "/reviews/{missing}", None, 404, "Review not found"),
    ("GET", "/reviews/movie/{missing}", None, 404, "Movie not found"),
    ("GET", "/reviews/movie/{missing}/rating", None, 404, "Movie not found"),
    ("GET", "/movies/?skip=-1", None, 422, "skip: Input should be greater than or equal to 0"),
    ("GET", "/movies/?limit=0", None, 422, "limit: Input should be greater than or equal to 1"),
    ("GET", "/movies/?limit=501", None, 422, "limit: Input should be less than or equal to 500"),
    ("GET", "/movies/?skip=1000001", None, 422, "skip: Input should be less than or equal"),
    ("GET", "/movies/?limit=99999999999999999999", None, 422, "limit:"),
    ("GET", "/movies/?q=" + "q" * 201, None, 422, "q: String should have at most 200"),
    ("GET", "/reviews/?skip=-1", None, 422, "skip:"),
    ("GET", "/reviews/?limit=10000", None, 422, "limit:"),
    ("GET", "/reviews/movie/{movie}?limit=-3", None, 422, "limit:"),
    ("GET", "/nowhere", None, 404, "Not Found"),
    ("PUT", "/movies/{movie}", {"title": "t"}, 405, "Method Not Allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    CLIENT_ERRORS,
    ids=[f"{m} {p} {s} {d[:30]}" for m, p, _, s, d in CLIENT_ERRORS],
)
def test_client_errors_are_4xx_with_a_readable_detail(api, method, path, body, status, detail):
    movie = create_movie(api)
    review = create_review(api, movie["id"], "에러 확인용 리뷰")
    ids = {"{movie}": movie["id"], "{review}": review["id"], "{missing}": MISSING}
    for placeholder, value in ids.items():
        path = path.replace(placeholder, str(value))
    if isinstance(body, dict):
        body = {
            key: ids.get(value, value) if isinstance(value, str) else value
            for key, value in body.items()
        }

    response = api.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str)
    assert detail in response.json()["detail"]


def test_a_wrong_method_is_answered_with_the_methods_the_path_allows(api):
    movie = create_movie(api)

    response = api.request("OPTIONS", f"/movies/{movie['id']}")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH, DELETE"


def test_a_body_that_is_not_json_is_refused_with_422(api):
    broken = api.post(
        "/reviews/", content=b'{"movie_id": 1,', headers={"content-type": "application/json"}
    )
    untyped = api.post("/movies/", content=b'{"title": "t"}')

    assert broken.status_code == 422
    assert broken.json()["detail"].startswith("body: invalid JSON")
    assert untyped.status_code == 422
