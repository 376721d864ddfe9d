"""The gateway client against a real gateway (and a real model service behind it)."""

import http.server
import json
import socket
import threading
import time
import uuid

import pytest

from stack.parts import MACHINE_KEY
from stack.ports import free_port
from ui.client import CREATE_ATTEMPTS, GatewayClient, GatewayError

pytestmark = pytest.mark.integration


@pytest.fixture
def client(gateway_url):
    with_client = GatewayClient(gateway_url, api_key=MACHINE_KEY, timeout_s=10)
    yield with_client
    with_client.close()


def _movie(client, **fields):
    return client.create_movie({"title": f"기생충 {uuid.uuid4().hex[:8]}", **fields})


def test_movies_round_trip_search_and_delete(client):
    movie = _movie(client, director="봉준호", genre="드라마", release_date="2019-05-30")
    assert client.get_movie(movie["id"]) == movie
    assert [m["id"] for m in client.list_movies(q=movie["title"])] == [movie["id"]]
    assert client.list_movies(limit=1)[0]["id"] == movie["id"]  # newest first
    assert client.delete_movie(movie["id"]) == {"message": "Movie deleted successfully"}
    with pytest.raises(GatewayError) as raised:
        client.get_movie(movie["id"])
    assert raised.value.status_code == 404 and raised.value.detail == "Movie not found"


def test_a_visitor_signs_up_writes_under_their_name_and_changes_only_their_own(gateway_url):
    visitor = GatewayClient(gateway_url, timeout_s=10)  # no key: only the token it is handed
    email, password = f"{uuid.uuid4().hex[:8]}@example.org", "a long enough password"
    account = visitor.register(email=email, password=password, display_name="관객")
    token = visitor.sign_in(email=email, password=password)
    assert visitor.me(token=token) == account
    machine = GatewayClient(gateway_url, api_key=MACHINE_KEY)
    movie = _movie(machine)
    others = machine.create_review(movie_id=movie["id"], author="남", content="남의 리뷰입니다")
    machine.close()

    mine = visitor.create_review(movie_id=movie["id"], content="내 리뷰입니다", token=token)
    assert (mine["author"], mine["user_id"]) == ("관객", account["id"])
    edited = visitor.update_review(mine["id"], content="고친 내 리뷰입니다", token=token)
    assert edited["content"] == "고친 내 리뷰입니다"
    with pytest.raises(GatewayError) as refused:
        visitor.delete_review(others["id"], token=token)
    assert refused.value.status_code == 403
    with pytest.raises(GatewayError) as anonymous:
        visitor.create_review(movie_id=movie["id"], content="익명 리뷰입니다")
    assert anonymous.value.status_code == 401
    assert visitor.delete_review(mine["id"], token=token) == {
        "message": "Review deleted successfully"
    }
    with pytest.raises(GatewayError) as wrong:
        visitor.sign_in(email=email, password="not the password")
    assert (wrong.value.status_code, wrong.value.detail) == (401, "Wrong email or password")
    visitor.close()


def test_validation_errors_come_back_by_field(client):
    with pytest.raises(GatewayError) as raised:
        client.create_movie({"title": "", "poster_url": "ftp://example.org/p.png"})
    error = raised.value
    assert error.status_code == 422
    assert set(error.field_errors) == {"title", "poster_url"}
    assert "http" in error.field_errors["poster_url"]
    assert "title" in error.detail and "poster_url" in error.detail


def test_review_is_scored_and_counted_in_the_rating(client, model_service_url):
    movie = _movie(client)
    review = client.create_review(
        movie_id=movie["id"], author="관객", content="  정말 최고의 영화  "
    )
    assert review["content"] == "정말 최고의 영화"
    assert review["status"] == "scored"
    assert review["sentiment_label"] in ("negative", "neutral", "positive")
    assert review["probabilities"][review["sentiment_label"]] == review["sentiment_score"]
    assert client.get_review(review["id"]) == review
    assert client.list_reviews(movie_id=movie["id"]) == [review]
    assert client.list_reviews(limit=1) == [review]
    rating = client.movie_rating(movie["id"])
    assert rating["review_count"] == rating["scored_count"] == 1
    assert rating["counts"][review["sentiment_label"]] == 1
    assert rating["average_score"] == pytest.approx(review["positivity"])


def test_review_for_an_unknown_movie_is_refused_readably(client):
    with pytest.raises(GatewayError) as raised:
        client.create_review(movie_id=2_000_000_000, author="관객", content="재미있어요 정말로")
    assert raised.value.status_code == 404 and raised.value.detail == "Movie not found"


def test_health_names_the_served_model(client, model_service_url):
    health = client.health()
    assert health["database"] == health["model_service"] == "ok"
    assert health["model"].startswith("korean-sentiment:")


def test_unreachable_gateway_is_one_typed_error():
    with pytest.raises(GatewayError) as raised:
        GatewayClient(f"http://127.0.0.1:{free_port()}", timeout_s=2).list_movies()
    assert raised.value.unreachable and "Cannot reach the gateway" in raised.value.detail


def test_silent_gateway_times_out_as_a_typed_error():
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never answers
        client = GatewayClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.5)
        with pytest.raises(GatewayError) as raised:
            client.health()
    assert raised.value.unreachable and "did not answer in time" in raised.value.detail


class _ProxyErrorPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>Bad Gateway</body></html>")

    def log_message(self, *args):
        pass


def test_an_error_page_that_is_not_json_still_reads_as_a_message():
    server = http.server.HTTPServer(("127.0.0.1", 0), _ProxyErrorPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(GatewayError) as raised:
            GatewayClient(f"http://127.0.0.1:{server.server_port}").list_movies()
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.status_code == 502 and raised.value.detail == "HTTP 502 Bad Gateway"


class _FlakyGateway(http.server.BaseHTTPRequestHandler):
    """Records each create's Idempotency-Key; the first `failures` tries get no answer (the
    connection dropped, or an answer slower than the client waits), the next a 201."""

    keys: list[str]
    failures: int
    failure: str

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.keys.append(self.headers["Idempotency-Key"])
        if len(self.keys) <= self.failures:
            if self.failure == "slow":
                time.sleep(1.0)
            self.close_connection = True
            return
        body = json.dumps({"id": 1, "title": "괴물", "content": "재미있어요 정말로"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_gateway():
    """A gateway stand-in, and a client with a short timeout: `serve(failures, failure)` sets
    how its next tries fail and returns the keys it will record."""
    handler = type("Handler", (_FlakyGateway,), {"keys": [], "failures": 0, "failure": "drop"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = GatewayClient(f"http://127.0.0.1:{server.server_port}", timeout_s=0.3)

    def serve(failures: int, failure: str = "drop") -> list[str]:
        handler.keys, handler.failures, handler.failure = [], failures, failure
        return handler.keys

    yield client, serve
    client.close()
    server.shutdown()
    server.server_close()


CREATES = {
    "review": lambda client: client.create_review(movie_id=1, content="재미있어요 정말로"),
    "movie": lambda client: client.create_movie({"title": "괴물"}),
}


@pytest.mark.parametrize("failure", ["drop", "slow"])
@pytest.mark.parametrize("create", CREATES)
def test_a_create_that_got_no_answer_is_tried_again_with_the_same_key(
    flaky_gateway, create, failure
):
    client, serve = flaky_gateway
    keys = serve(failures=2, failure=failure)

    created = CREATES[create](client)

    assert created["id"] == 1
    assert len(keys) == CREATE_ATTEMPTS == 3
    assert len(set(keys)) == 1 and uuid.UUID(keys[0]).version == 4


def test_a_create_gives_up_after_its_tries_and_each_submission_has_a_fresh_key(flaky_gateway):
    client, serve = flaky_gateway
    keys = serve(failures=CREATE_ATTEMPTS)
    with pytest.raises(GatewayError) as raised:
        CREATES["review"](client)
    assert raised.value.unreachable
    assert len(keys) == CREATE_ATTEMPTS and len(set(keys)) == 1

    next_keys = serve(failures=0)
    CREATES["review"](client)
    CREATES["review"](client)
    assert len(next_keys) == 2 and len(set(next_keys + keys)) == 3


def test_a_review_sent_again_with_its_key_is_stored_once(client):
    movie = _movie(client)
    key = str(uuid.uuid4())

    first, again = (
        client.create_review(movie_id=movie["id"], author="관객", content="한 번만 저장될 리뷰",
                             idempotency_key=key)
        for _ in range(2)
    )  # fmt: skip

    assert again["id"] == first["id"]
    assert [r["id"] for r in client.list_reviews(movie_id=movie["id"])] == [first["id"]]
