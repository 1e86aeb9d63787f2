"""Notifications: models, services and views of this area."""
