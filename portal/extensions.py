"""Flask extensions, created here and bound to the app in :func:`portal.create_app`."""
from __future__ import annotations

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: Search indexes one database kind has and the models don't describe (PostgreSQL
#: ``pg_trgm`` GIN indexes named ``*_trgm``; SQLite FTS5 tables ``*_fts*`` and their
#: triggers), created by migration ``e5_page_speed``: autogenerate leaves them alone.
SEARCH_INDEX_SUFFIX = "_trgm"
SEARCH_TABLE_MARK = "_fts"


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's ``include_object`` hook: skip the database-specific search indexes
    and tables (see :data:`SEARCH_INDEX_SUFFIX`) when comparing models and schema."""
    if type_ == "index" and name and name.endswith(SEARCH_INDEX_SUFFIX):
        return False
    if type_ == "table" and name and SEARCH_TABLE_MARK in name:
        return False
    return True


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
mail = Mail()
htmx = HTMX()
login = LoginManager()
csrf = CSRFProtect()
# Rate limits (sign-in) on the portal's Redis; counts fall back to memory while it is down.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
