"""The serving frameworks a user would pick instead of ours, on the same model and load
(`make bench-peers`, `python -m scripts.bench.peers`)."""
