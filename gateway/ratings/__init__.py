"""Ratings: a movie's score and label mix, aggregated in SQL from its scored reviews."""
