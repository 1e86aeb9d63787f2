"""Imports every area's models so that Alembic and ``db.create_all`` see all tables."""
from portal.approvals.models import *  # noqa: F401,F403
from portal.audit.models import *  # noqa: F401,F403
from portal.auth.models import *  # noqa: F401,F403
from portal.importers.models import *  # noqa: F401,F403
from portal.jobqueue.models import *  # noqa: F401,F403
from portal.notifications.models import *  # noqa: F401,F403
from portal.records.models import *  # noqa: F401,F403
from portal.workflow.models import *  # noqa: F401,F403
