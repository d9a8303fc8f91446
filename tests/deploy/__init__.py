"""tinynets tests."""
