"""The audit trail: who changed what, when (models and ``record_audit`` here, below
every area so that all of them write through one function; the admin Audit page in
:mod:`portal.audit.views`)."""
