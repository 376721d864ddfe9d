"""Starlette's TestClient, for running an ASGI app (with its lifespan) inside a test."""

import warnings

with warnings.catch_warnings():
    # Starlette asks for the `httpx2` package here; the httpx the project pins works the same.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
