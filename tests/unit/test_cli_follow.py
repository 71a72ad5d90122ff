"""The CLI's end-of-job summary names the manual data a re-sync removed or found orphaned."""

from __future__ import annotations

from typing import Any

import pytest

from sourcesync.cli import follow


class Jobs:
    """Answers GET /v1/jobs/{id} with the job as it ends."""

    def __init__(self, finished: dict[str, Any]) -> None:
        self.finished = finished

    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
        assert (method, path) == ("GET", f"/v1/jobs/{self.finished['id']}")
        return self.finished


def job(status: str, result: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": "job_1", "kind": "resync_source", "status": status, "phase": None, "progress": {}, "result": result}


def test_a_finished_resync_says_what_the_matrix_removed_and_what_is_orphaned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = {
        "counts": {},
        "overlays_removed": [{"id": "con_1"}, {"id": "mre_2"}],
        "overlays_orphaned": [{"id": "mrg_3"}],
    }
    assert follow(Jobs(job("succeeded", result)), job("running", None), as_json=False, interval=0) == 0  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "resync_source succeeded" in out
    assert "manual data: 2 removed by the policy matrix, 1 kept but orphaned" in out


def test_nothing_is_said_of_manual_data_when_nothing_happened_to_it(capsys: pytest.CaptureFixture[str]) -> None:
    result = {"counts": {}, "overlays_removed": [], "overlays_orphaned": []}
    assert follow(Jobs(job("succeeded", result)), job("running", None), as_json=False, interval=0) == 0  # type: ignore[arg-type]
    assert "manual data" not in capsys.readouterr().out
