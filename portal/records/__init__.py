"""Business records: models, services and views of this area."""
