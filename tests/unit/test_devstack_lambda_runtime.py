"""devstack.lambda_runtime: loading handlers from the template, the context, Lambda's error contract, the guard."""

from __future__ import annotations

import inspect
import json
import threading
import time

import pytest

from devstack import REPO_ROOT
from devstack.lambda_runtime import (
    EXPECTED_INVOKE_PARAMETERS,
    EXPECTED_MOTO_VERSION,
    FunctionNotFoundError,
    LambdaRuntime,
    MotoCompatibilityError,
    moto_lambda_class,
)
from devstack.template import Template

FIXTURE_TEMPLATE = REPO_ROOT / "tests" / "integration" / "fixtures" / "template.yaml"


@pytest.fixture()
def runtime() -> LambdaRuntime:
    template = Template(FIXTURE_TEMPLATE, stack_name="rtunit")
    runtime = LambdaRuntime()
    for fn in template.functions():
        runtime.register(fn)
    return runtime


def test_moto_is_the_version_the_patch_was_written_for() -> None:
    import moto
    from moto.awslambda.models import LambdaFunction

    assert moto.__version__ == EXPECTED_MOTO_VERSION
    assert moto_lambda_class() is LambdaFunction
    original = getattr(LambdaFunction.invoke, "__devstack_original__", LambdaFunction.invoke)
    assert tuple(inspect.signature(original).parameters) == EXPECTED_INVOKE_PARAMETERS


def test_guard_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto

    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(MotoCompatibilityError, match=r"5\.2\.5 .* moto 5\.3\.0"):
        moto_lambda_class()


def test_guard_refuses_a_changed_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.awslambda import models

    def invoke(self, body, request_headers, response_headers, extra):  # type: ignore[no-untyped-def]
        raise AssertionError("never called")

    monkeypatch.setattr(models.LambdaFunction, "invoke", invoke)
    with pytest.raises(MotoCompatibilityError, match="expected parameters"):
        moto_lambda_class()


def test_functions_by_name_arn_and_qualified_arn(runtime: LambdaRuntime) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:rtunit-WorkerFunction"
    assert runtime.spec("rtunit-WorkerFunction").logical_id == "WorkerFunction"
    assert runtime.spec(arn).logical_id == "WorkerFunction"
    assert runtime.spec(arn + ":$LATEST").logical_id == "WorkerFunction"
    with pytest.raises(FunctionNotFoundError, match="rtunit-Nope"):
        runtime.spec("rtunit-Nope")


def test_module_names(runtime: LambdaRuntime) -> None:
    worker = runtime.spec("rtunit-WorkerFunction")
    assert runtime.module_name_for(worker) is None  # fixtures/ is no package: loaded from its file
    api = next(f for f in Template(REPO_ROOT / "infra" / "template.yaml").functions() if f.logical_id == "ApiFunction")
    assert runtime.module_name_for(api) == "functions.api.app"  # the product's functions: a real package


def test_context_object(runtime: LambdaRuntime) -> None:
    result = runtime.invoke("rtunit-WorkerFunction", {"run": "ctx", "id": "1"})
    assert result["function_name"] == "rtunit-WorkerFunction"
    assert result["memory"] == 256
    assert 9000 < result["time_left"] <= 10000  # Timeout 10 s from Globals


def test_handler_module_is_imported_once(runtime: LambdaRuntime) -> None:
    first = runtime.invoke("rtunit-WorkerFunction", {"run": "once", "id": "1", "fail_times": 0})
    second = runtime.invoke("rtunit-WorkerFunction", {"run": "once", "id": "1"})
    assert (first["attempts"], second["attempts"]) == (1, 2)  # module state survives, like a warm Lambda


def test_error_payload_names_the_exception_class(runtime: LambdaRuntime) -> None:
    request = json.dumps({"run": "err", "id": "1", "fatal": True})
    body, errored = runtime.invoke_payload("rtunit-WorkerFunction", request)
    assert errored
    payload = json.loads(body)
    assert payload["errorType"] == "FatalError"
    assert payload["errorMessage"] == "item 1 cannot be processed"
    assert payload["stackTrace"]
    assert all("devstack/" not in frame for frame in payload["stackTrace"])  # only the handler's frames
    assert any("worker/app.py" in frame for frame in payload["stackTrace"])
    ok_body, ok_errored = runtime.invoke_payload("rtunit-WorkerFunction", b'{"run": "err", "id": "2"}')
    assert not ok_errored
    assert json.loads(ok_body)["id"] == "2"


def test_async_invocations_run_in_the_background(runtime: LambdaRuntime) -> None:
    started = time.monotonic()
    runtime.invoke_async("rtunit-WorkerFunction", b'{"run": "async", "id": "1"}')
    assert runtime.wait_for_async(10)
    assert time.monotonic() - started < 10
    again = runtime.invoke("rtunit-WorkerFunction", {"run": "async", "id": "1"})
    assert again["attempts"] == 2  # the background invocation really ran


def test_missing_handler_file_fails_clearly(tmp_path, runtime: LambdaRuntime) -> None:  # type: ignore[no-untyped-def]
    template_path = tmp_path / "template.yaml"
    template_path.write_text(
        "Resources:\n  Ghost:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: ghost/, Handler: app.handler}\n",
        encoding="utf-8",
    )
    (ghost,) = Template(template_path, stack_name="rtunit").functions()
    runtime.register(ghost)
    with pytest.raises(ModuleNotFoundError, match=r"ghost/app\.py not found"):
        runtime.invoke("rtunit-Ghost", {})


def test_every_invocation_is_recorded_as_lambda_bills_it(runtime: LambdaRuntime) -> None:
    runtime.take_invocations()
    spec = runtime.spec("rtunit-WorkerFunction")
    # When the handler runs, once successfully and once raising
    runtime.invoke("rtunit-WorkerFunction", {"run": "ctx", "id": "1"})
    with pytest.raises(ValueError):
        runtime.invoke("rtunit-WorkerFunction", {"run": "bill", "id": "2", "boom": True})
    # Then both are recorded: billed milliseconds (at least 1: Lambda rounds up), the configured memory,
    # the invoking thread's CPU time, and GB-seconds from those
    taken = runtime.take_invocations()
    assert [i.function for i in taken] == [spec.name, spec.name]
    for invocation in taken:
        assert invocation.billed_ms >= 1 and invocation.memory_mb == spec.memory_size
        assert 0 <= invocation.cpu_seconds <= invocation.billed_ms / 1000 + 0.01
        assert invocation.gb_seconds == invocation.billed_ms / 1000 * spec.memory_size / 1024
    # and taking them empties the record
    assert runtime.take_invocations() == []


def test_the_cpu_of_an_invocations_own_threads_is_its_cpu(runtime: LambdaRuntime) -> None:
    runtime.take_invocations()
    # When the handler hands its work to a pool thread and waits for it
    answer = runtime.invoke("rtunit-WorkerFunction", {"run": "threads", "id": "1", "helper_cpu": 0.3})
    # Then the invocation's CPU time includes what the pool thread used (the invoking thread alone used
    # almost nothing: it waited)
    (invocation,) = runtime.take_invocations()
    assert answer["helper_cpu"] >= 0.3
    assert invocation.cpu_seconds >= answer["helper_cpu"]
    # and a thread started outside any invocation is not charged to it
    outside = threading.Thread(target=lambda: None)
    outside.start()
    outside.join()
    assert runtime.take_invocations() == []
