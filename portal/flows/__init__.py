"""Instant flows, the Automate menu and run history: models, services and views of this area."""
