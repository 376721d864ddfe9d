"""Soak users: each signs up, then writes, reads, edits and deletes reviews at a steady pace.

A write is sent until it gets an answer that is not a passing failure (no answer, 429, 502, 503,
504), every attempt with the same body and, for a new review, the same `Idempotency-Key`: what a
careful client does, and what the ledger checks the gateway makes safe.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

from scripts.soak.stack import SoakStack
from stack.parts import MACHINE_HEADERS

NO_ANSWER = "no answer"
PASSING = {429, 502, 503, 504}
# How long a user keeps trying one write (the longest fault here is a restart of a few seconds).
WRITE_PATIENCE_S = 180.0
FIRST_PAUSE_S = 0.25
MAX_BACKOFF_S = 4.0
OPERATIONS = {"write": 30, "list": 25, "rating": 20, "movie": 10, "edit": 10, "delete": 5}
PASSWORD = "soak-" + uuid.uuid4().hex  # every soak user's; never logged


@dataclass(frozen=True)
class Request:
    t_s: float
    op: str
    status: int | str
    latency_s: float


@dataclass
class Written:
    """An accepted review as its writer last saw it."""

    review_id: int
    content: str
    user: int
    deleted: bool = False
    # Texts of edits that got no answer in the end: each may or may not have landed.
    maybe: set[str] = field(default_factory=set)


@dataclass
class Ledger:
    """Every request sent, every accepted write, every answer that made no sense."""

    run: str
    requests: list[Request] = field(default_factory=list)
    reviews: dict[str, Written] = field(default_factory=dict)
    abandoned: list[str] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def accept(self, marker: str, written: Written) -> None:
        with self.lock:
            self.reviews[marker] = written

    def note(self, kind: str, what: str) -> None:
        with self.lock:
            (self.abandoned if kind == "abandoned" else self.surprises).append(what)


class SoakUser(threading.Thread):
    """One account sending `rate` requests a second until `stop` is set."""

    def __init__(
        self,
        number: int,
        stack: SoakStack,
        ledger: Ledger,
        movie_ids: list[int],
        texts: list[str],
        rate: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(daemon=True, name=f"soak-user-{number}")
        self.number = number
        self.stack = stack
        self.ledger = ledger
        self.movie_ids = movie_ids
        self.texts = texts
        self.rate = rate
        self.stop_event = stop
        self.rng = random.Random(number)
        self.email = f"soak-{ledger.run}-{number}@example.com"
        self.mine: list[str] = []  # markers of this user's reviews still standing
        self.sent = 0
        self.http = httpx.Client(base_url=stack.gateway.url, timeout=10)

    def run(self) -> None:
        self.sign_up()
        next_at = time.monotonic()
        ops, weights = zip(*OPERATIONS.items(), strict=True)
        while not self.stop_event.is_set():
            getattr(self, self.rng.choices(ops, weights)[0])()
            next_at += self.rng.expovariate(self.rate)
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))
        self.http.close()

    # ------------------------------------------------------------ operations

    def write(self) -> None:
        self.sent += 1
        marker = f"{self.ledger.run}-{self.number}-{self.sent:05d}"
        body = {"movie_id": self.rng.choice(self.movie_ids), "content": self._content(marker)}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        response, _ = self.send_until_answered("write", "POST", "/reviews/", body, headers)
        if response is None:
            self.ledger.note("abandoned", marker)
        elif response.status_code == 201:
            review = response.json()
            self.ledger.accept(marker, Written(review["id"], review["content"], self.number))
            self.mine.append(marker)
        else:
            self.ledger.note("surprise", f"write {marker}: {response.status_code}")

    def edit(self) -> None:
        if not self.mine:
            return self.list()
        marker = self.rng.choice(self.mine)
        written = self.ledger.reviews[marker]
        body = {"content": self._content(marker)}
        response, _ = self.send_until_answered(
            "edit", "PATCH", f"/reviews/{written.review_id}", body
        )
        if response is not None and response.status_code == 200:
            written.content = response.json()["content"]
        elif response is None:
            written.maybe.add(body["content"].strip())
            self.ledger.note("abandoned", marker)
        else:
            self.ledger.note("surprise", f"edit {marker}: {response.status_code}")

    def delete(self) -> None:
        if not self.mine:
            return self.list()
        marker = self.mine.pop(self.rng.randrange(len(self.mine)))
        written = self.ledger.reviews[marker]
        response, tries = self.send_until_answered(
            "delete", "DELETE", f"/reviews/{written.review_id}"
        )
        # A 404 after an attempt that got no answer: that attempt deleted it.
        if response is not None and (
            response.status_code == 200 or (response.status_code == 404 and tries > 1)
        ):
            written.deleted = True
        else:
            status = response.status_code if response is not None else NO_ANSWER
            self.ledger.note("surprise", f"delete {marker}: {status}")

    def list(self) -> None:
        self.send("list", "GET", f"/reviews/movie/{self.rng.choice(self.movie_ids)}")

    def rating(self) -> None:
        self.send("rating", "GET", f"/reviews/movie/{self.rng.choice(self.movie_ids)}/rating")

    def movie(self) -> None:
        self.send("movie", "GET", f"/movies/{self.rng.choice(self.movie_ids)}")

    # ------------------------------------------------------------ sending

    def send(
        self,
        op: str,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict | None = None,
    ) -> httpx.Response | None:
        """One attempt, recorded; None when no answer came. A lapsed token is renewed once."""
        started = time.monotonic()
        try:
            response = self.http.request(method, path, json=body, headers=headers)
            if response.status_code == 401:
                self.sign_in()
                response = self.http.request(method, path, json=body, headers=headers)
        except httpx.TransportError:
            response = None
        status = NO_ANSWER if response is None else response.status_code
        self.ledger.record(Request(self.stack.now(), op, status, time.monotonic() - started))
        if isinstance(status, int) and status >= 500 and status not in PASSING:
            self.ledger.note("surprise", f"{op} {method} {path}: {status} {response.text[:200]}")
        return response

    def send_until_answered(
        self,
        op: str,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict | None = None,
    ) -> tuple[httpx.Response | None, int]:
        """The same request again after each passing failure, backing off, for WRITE_PATIENCE_S;
        the last answer (None: still none that counts) and how many tries it took."""
        retrying = Retrying(
            retry=retry_if_result(_passing),
            wait=wait_exponential(multiplier=FIRST_PAUSE_S, max=MAX_BACKOFF_S),
            stop=stop_after_delay(WRITE_PATIENCE_S),
            retry_error_callback=lambda _state: None,
        )
        response = retrying(self.send, op, method, path, body, headers)
        return response, retrying.statistics["attempt_number"]

    def _content(self, marker: str) -> str:
        return f"{marker} {self.rng.choice(self.texts)[:300]}"

    # ------------------------------------------------------------ accounts

    def sign_up(self) -> None:
        account = {"email": self.email, "password": PASSWORD, "display_name": f"관객 {self.number}"}
        response, _ = self.send_until_answered("sign-up", "POST", "/auth/register", account)
        if response is None or response.status_code not in (201, 409):
            raise RuntimeError(f"{self.email} could not sign up: {response}")
        self.sign_in()

    def sign_in(self) -> None:
        """A fresh access token, tried through passing failures like any write."""
        form = {"username": self.email, "password": PASSWORD}
        response = Retrying(
            retry=retry_if_exception_type(httpx.TransportError)
            | retry_if_result(lambda response: response.status_code != 200),
            wait=wait_fixed(1),
            stop=stop_after_delay(WRITE_PATIENCE_S),
            retry_error_callback=lambda _state: None,
        )(self.http.post, "/auth/token", data=form)
        if response is None:
            raise RuntimeError(f"{self.email} could not sign in")
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


def _passing(response: httpx.Response | None) -> bool:
    """No answer, or one that says to try again later."""
    return response is None or response.status_code in PASSING


def create_movies(stack: SoakStack, count: int, run: str) -> list[int]:
    """`count` movies made by the machine client, for the users to review."""
    ids = []
    for number in range(count):
        response = httpx.post(
            f"{stack.gateway.url}/movies/",
            json={"title": f"soak {run} {number}"},
            headers=MACHINE_HEADERS,
            timeout=10,
        )
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids
