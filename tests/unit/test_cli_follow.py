"""The CLI's end-of-job summary names the manual data a re-sync removed or found orphaned."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sourcesync_cli import follow


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


def test_the_bar_and_the_job_say_what_a_job_waits_for_and_what_the_provider_answered() -> None:
    from datetime import UTC, datetime

    from sourcesync_cli.render import bar as _bar
    from sourcesync_cli.render import job_text as _job_text

    local = datetime(2026, 11, 30, 12, 4, 10, tzinfo=UTC).astimezone().strftime("%H:%M:%S")  # shown in local time
    waiting = {
        "id": "job_2",
        "kind": "delete_source",
        "status": "running",
        "phase": "purging",
        "progress": {
            "percent": 0,
            "eta_seconds": 12,
            "kinds": {"customers": {"done": 0, "total": 40, "estimated": True}},
        },
        "waiting_for": {"reason": "the stopped re-sync's workers", "until": "2026-11-30T12:04:10Z"},
    }
    assert f"waiting for the stopped re-sync's workers until {local}" in _bar(waiting)
    assert "customers 0/~40" in _bar(waiting)
    assert f"waiting for the stopped re-sync's workers until {local}" in _job_text(waiting)
    failed = {
        **waiting,
        "status": "failed",
        "waiting_for": None,
        "error": {"code": "provider_error", "message": "The provider refused a request: …", "provider_status": 404},
    }
    text = _job_text(failed)
    assert "waiting for" not in text and "provider_error" in text and "HTTP 404" in text


def test_the_bar_ends_at_the_switch_and_says_until_when_the_clean_up_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    local = datetime(2026, 11, 30, 12, 5, 0, tzinfo=UTC).astimezone().strftime("%H:%M:%S")
    result = {"counts": {"customers": 3}, "overlays_removed": [], "overlays_orphaned": []}
    switched = {
        **job("succeeded", result),
        "progress": {"percent": 100, "eta_seconds": 0, "kinds": {}},
        "cleanup": {"status": "pending", "until": "2026-11-30T12:05:00Z"},
    }
    # When the job the CLI follows has switched (its clean-up still pending)
    assert follow(Jobs(switched), job("running", None), as_json=False, interval=0) == 0  # type: ignore[arg-type]
    out = capsys.readouterr().out
    # Then the bar ends at 100% and says the clean-up runs in the background until the grace period's end
    assert "100%" in out and "resync_source succeeded" in out
    assert f"The new data is live. The clean-up of the previous data runs in the background until {local}" in out


def test_jobs_show_prints_the_clean_up() -> None:
    from datetime import UTC, datetime

    from sourcesync_cli.render import job_text as _job_text

    local = datetime(2026, 11, 30, 12, 5, 0, tzinfo=UTC).astimezone().strftime("%H:%M:%S")
    shown = {**job("succeeded", None), "cleanup": {"status": "pending", "until": "2026-11-30T12:05:00Z"}}
    assert f"clean-up of the previous data: pending, its readers have until {local}" in _job_text(shown)
    running = {**shown, "cleanup": {"status": "running", "until": "2026-11-30T12:05:00Z"}}
    assert "clean-up of the previous data: running" in _job_text(running)
    done = {**shown, "cleanup": {"status": "done", "until": "2026-11-30T12:05:00Z"}}
    assert "clean-up of the previous data: done" in _job_text(done)
    assert "clean-up" not in _job_text(job("succeeded", None))  # a job without a switch (reprocess, delete)


class Sequence:
    """Answers GET /v1/jobs/{id} with the job's next state each time."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> dict[str, Any]:
        assert (method, path) == ("GET", "/v1/jobs/job_1")
        return self.states.pop(0)


def test_in_a_terminal_the_progress_is_rich_live_display_with_a_bar_per_kind(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws as for a terminal
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    fetching = {
        **job("running", None),
        "phase": "fetching",
        "progress": {"percent": 40, "eta_seconds": 7, "kinds": {"customers": {"done": 4, "total": 10}}},
    }
    done = {
        **job("failed", None),
        "progress": {"percent": 40, "kinds": {"customers": {"done": 4, "total": 10}}},
        "error": {"code": "provider_unavailable", "message": "The provider kept failing."},
    }
    assert follow(Sequence([fetching, done]), job("running", None), as_json=False, interval=0) == 4  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "━" in out  # rich's bar, not the plain [####....] line
    assert "[#" not in out and "customers" in out and "4 / 10" in out
    assert "resync_source failed: provider_unavailable: The provider kept failing." in out


def test_with_json_only_the_finished_job_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    finished = job("succeeded", {"counts": {}, "overlays_removed": [], "overlays_orphaned": []})
    assert follow(Jobs(finished), job("running", None), as_json=True, interval=0) == 0  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["succeeded"]
