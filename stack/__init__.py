"""The one harness that starts the stack's parts, for the tests, the benchmarks and `make run`."""
