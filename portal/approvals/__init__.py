"""Approvals: models, services and views of this area."""
