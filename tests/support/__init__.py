"""Real components the tests start on loopback ports and stop afterwards."""
