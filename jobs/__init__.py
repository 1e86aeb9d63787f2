"""Thin RQ entry points: each opens an app context and calls a service."""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app, has_app_context

_app = None


@contextmanager
def app_context():
    """An app context: the current one (inside ``flask worker``) or a cached app."""
    global _app
    if has_app_context():
        yield current_app
        return
    if _app is None:
        from portal import create_app

        _app = create_app()
    with _app.app_context():
        yield _app
