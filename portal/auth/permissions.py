"""Route guards: every route needs a signed-in user; some need a role."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required


def require_role(*roles: str):
    """Decorator: the signed-in user must hold one of ``roles`` (admins hold all);
    otherwise 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403, description="You are not permitted to open this page.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
