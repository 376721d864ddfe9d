"""Model rollout: the candidate in shadow, its predictions, their comparison with the live one."""
