"""Scoring: the model-service client, review claims, and the background scorer."""
