"""One dispatcher for the state machines' worker functions: a task `{"action": ..., "job": {...}, ...}` goes to
the step its table names (one Lambda, one action per state; see the ASL files)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from sourcesync.log import logger


class WorkerJob(BaseModel):
    """What every state machine carries about its job (each adds its own fields)."""

    model_config = ConfigDict(extra="ignore")

    account_id: str
    data_source_uuid: str
    job_id: str


J = TypeVar("J", bound=WorkerJob)


@dataclass(frozen=True)
class Task(Generic[J]):
    """One state's task: the job (validated), the state's whole input, and the invocation's time left."""

    job: J
    event: dict[str, Any]
    context: Any

    def remaining_seconds(self) -> float:
        return float(self.context.get_remaining_time_in_millis()) / 1000.0


Action = Callable[[Task[J]], dict[str, Any]]


def run(
    actions: Mapping[str, Action[J]],
    job_model: type[J],
    event: dict[str, Any],
    context: Any,
    on_error: Callable[[J, Exception], None] | None = None,
) -> dict[str, Any]:
    """Run the action the event names; `on_error` sees an exception before Step Functions does."""
    action = event["action"]
    job = job_model.model_validate(event["job"])
    logger.append_keys(job_id=job.job_id, data_source_uuid=job.data_source_uuid, action=action)
    if action not in actions:
        raise ValueError(f"Unknown action {action!r}")
    try:
        return actions[action](Task(job, event, context))
    except Exception as exc:
        if on_error is not None:
            on_error(job, exc)
        raise
