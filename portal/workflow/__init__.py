"""The workflow engine: models, services and views of this area."""
