"""The steps the state machines run (see infra/statemachine/): a re-sync's in `steps/`, a purge's in `purge.py`."""
