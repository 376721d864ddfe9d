"""Bodies /classify refuses, each with its status and a phrase its error message must contain."""

import json
from dataclasses import dataclass

from model_service.settings import settings


@dataclass(frozen=True)
class BadInput:
    name: str
    body: str
    message: str
    content_type: str = "application/json"
    status: int = 400


def _texts(*texts: object) -> str:
    return json.dumps({"texts": list(texts)}, ensure_ascii=False)


BAD_INPUTS = [
    BadInput("empty list", _texts(), "at least 1 item"),
    BadInput("empty text", _texts(""), "empty or whitespace only"),
    BadInput("whitespace text", _texts(" \t\n "), "empty or whitespace only"),
    BadInput("number as text", _texts(42), "valid string"),
    BadInput("null as text", _texts("좋아요", None), "valid string"),
    BadInput("string, not a list", '{"texts": "좋아요"}', "valid array"),
    BadInput("missing texts", '{"text": ["좋아요"]}', "Field required"),
    BadInput("empty body", "", "Field required"),
    BadInput(
        "too many texts",
        _texts(*["좋아요"] * (settings.max_texts_per_request + 1)),
        f"at most {settings.max_texts_per_request} items",
    ),
    BadInput(
        "text too long",
        _texts("가" * (settings.max_text_chars + 1)),
        f"at most {settings.max_text_chars} characters",
    ),
    BadInput("not JSON", "texts=good movie", "Invalid JSON", content_type="text/plain"),
    BadInput("broken JSON", '{"texts": ["좋아요"', "Invalid JSON"),
]
