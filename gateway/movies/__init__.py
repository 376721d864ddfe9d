"""Movies: the titles reviews are written about."""
