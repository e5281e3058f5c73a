"""Repository hygiene checks (the REP rules)."""
