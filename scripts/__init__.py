"""Command-line tools: train, build, evaluate, register, rescore, benchmark, deploy."""
