"""Command-line tools: train, build, evaluate, register, benchmark, deploy."""
