"""The gateway: movies, reviews and ratings over SQLAlchemy, scored by the model service."""
