"""The re-sync pipeline: the steps the re-sync state machine runs (see infra/statemachine/)."""
