"""Entry point for the Flask CLI: ``flask run``, ``flask worker``, ``flask scheduler``,
``flask up``, ``flask db upgrade``, ``flask import-northwind``."""
from portal import create_app

app = create_app()
