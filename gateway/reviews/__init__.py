"""Reviews: stored first, scored by the model service, read newest first."""
