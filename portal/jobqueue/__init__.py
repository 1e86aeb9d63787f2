"""Job queue: job queue entries, recurrence, the scheduler's logic and log entries."""
