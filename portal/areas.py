"""Each area registers its record types, responses, event values and handlers with
the workflow engine's catalogs (:mod:`portal.workflow.catalog`), as blueprints
register routes: the engine imports no area."""
from __future__ import annotations


def register() -> None:
    """Import the areas' registration modules (idempotent: Python imports once)."""
    import portal.approvals.responses  # noqa: F401  (approval responses, approval event values)
    import portal.flows.manage  # noqa: F401  (flows that keep failing: their owners are told)
    import portal.notifications.responses  # noqa: F401  (messages, notifications, e-mail; failed-run notices)
    import portal.records.registry  # noqa: F401  (record types)
    import portal.records.responses  # noqa: F401  (document status, posting, restrictions, journals)
    import portal.workflow.responses  # noqa: F401  (the engine's own responses)
