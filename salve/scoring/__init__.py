"""Risk scores: declarative rules, a vectorised engine, snapshots that explain themselves."""
