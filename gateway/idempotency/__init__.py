"""Idempotency keys: a retried create request gets the first request's answer, stores nothing."""
