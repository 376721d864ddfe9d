"""Helpers only the tests use: an ASGI test client, readers of the deployment files."""
