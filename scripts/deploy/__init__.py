"""Deployment commands: `python -m scripts.deploy.cloud_run` (Cloud Run)."""
