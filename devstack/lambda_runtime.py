"""Run the template's Lambda handlers in this process, and make moto's Lambda do the same.

`LambdaRuntime` loads a function's handler from its template entry (CodeUri + Handler "module.func") and
calls it with a Lambda-like context. Every path goes through it: moto's Lambda Invoke (sync, async, and the
Step Functions interpreter, which calls Invoke over HTTP), the local API Gateway and the local scheduler.

moto 5.2.5's `LambdaFunction.invoke(self, body, request_headers, response_headers)` is replaced by
`install_moto_patch()`; the result contract is moto's own:
- it returns the payload (bytes for RequestResponse; the caller turns it into the HTTP body);
- an error sets `response_headers["x-amz-function-error"] = "Unhandled"` and returns
  `{"errorType": <exception class name>, "errorMessage": str(exc), "stackTrace": [...]}`, which the
  Step Functions interpreter reads to match Retry/Catch `ErrorEquals` on the class name;
- `X-Amz-Invocation-Type: Event` runs the handler on a background thread and returns at once (as Lambda's
  asynchronous invoke does); `DryRun` runs nothing.
The patch is guarded: moto must be exactly 5.2.5 and the method must have that signature.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import math
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack import REPO_ROOT
from devstack.template import FunctionSpec

LOG = logging.getLogger("devstack.lambda")

EXPECTED_MOTO_VERSION = "5.2.5"
EXPECTED_INVOKE_PARAMETERS = ("self", "body", "request_headers", "response_headers")

Handler = Callable[[Any, Any], Any]


class MotoCompatibilityError(RuntimeError):
    """moto is not the version whose internals the local stack patches."""


class FunctionNotFoundError(LookupError):
    """No function of that name or ARN was registered from the template."""


class HandlerError(Exception):
    """A handler raised: carries the Lambda error payload (errorType, errorMessage, stackTrace)."""

    def __init__(self, payload: dict[str, Any], original: BaseException | None = None) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload
        self.original = original


@dataclass
class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: float
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


def make_context(spec: FunctionSpec, request_id: str | None = None) -> LambdaContext:
    now = datetime.now(UTC)
    return LambdaContext(
        function_name=spec.name,
        function_version="$LATEST",
        invoked_function_arn=spec.arn,
        memory_limit_in_mb=spec.memory_size,
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{spec.name}",
        log_stream_name=f"{now:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
        deadline_ms=time.time() * 1000 + spec.timeout * 1000,
    )


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The body Lambda's Python runtime returns for an unhandled exception."""
    devstack_dir = str(Path(__file__).resolve().parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(devstack_dir)]
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "requestId": "",
        "stackTrace": [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n' for f in frames],
    }


@dataclass(frozen=True)
class Invocation:
    """One handler invocation as Lambda bills it: its duration (rounded up to the millisecond, as Lambda's
    billed duration is) at the function's configured memory, and the CPU time it spent: the invoking
    thread's and that of every thread started while it ran (a worker's thread pools), see `CpuAccount`."""

    function: str
    memory_mb: int
    billed_ms: int
    cpu_seconds: float
    action: str | None = None  # the event's "action" (a state machine task's step), if it names one
    started: float = 0.0  # time.monotonic() when it started (a job's timeline: the gaps between its steps)

    @property
    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024


class CpuAccount:
    """The CPU seconds of one invocation across all its threads.

    Handlers run in this process, beside moto, DynamoDB Local's client and other invocations, so the
    process's CPU time says nothing about one invocation. The invoking thread's `time.thread_time()` misses
    what a handler hands to threads of its own (a page fetched ahead, writers in a thread pool). So every
    thread started from a thread that is running an invocation (or from one of its threads, and so on)
    charges its CPU time to that invocation: when it ends, or, if it is still running when the invocation
    returns, up to that moment (read from its CPU clock). `install_thread_accounting` makes
    `threading.Thread.start` do that; threads started outside any invocation are left as they are."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.thread_time()
        self._children = 0.0
        self._live: dict[int, float] = {}  # a running child's thread id -> its CPU time when it started
        self._closed = False

    def child_started(self, ident: int, cpu: float) -> None:
        with self._lock:
            if not self._closed:
                self._live[ident] = cpu

    def child_ended(self, ident: int, cpu: float) -> None:
        with self._lock:
            began = self._live.pop(ident, None)
            if began is not None and not self._closed:
                self._children += cpu - began

    def close(self) -> float:
        """The invocation's CPU seconds so far (called by the invoking thread, as the handler returns)."""
        own = time.thread_time() - self._started
        with self._lock:
            self._closed = True
            for ident, began in self._live.items():  # still running: count up to now
                try:
                    self._children += time.clock_gettime(time.pthread_getcpuclockid(ident)) - began
                except (OSError, OverflowError):  # pragma: no cover - it ended between two instructions
                    continue
            self._live.clear()
            return own + self._children


_ACCOUNT = threading.local()  # .current: the CpuAccount of the invocation this thread works for, if any
_ACCOUNTING_INSTALLED = threading.Lock()


def current_account() -> CpuAccount | None:
    account: CpuAccount | None = getattr(_ACCOUNT, "current", None)
    return account


def install_thread_accounting() -> None:
    """Make threads started during an invocation charge their CPU time to it (idempotent)."""
    with _ACCOUNTING_INSTALLED:
        original = threading.Thread.start
        if getattr(original, "__devstack_original__", None) is not None:
            return

        def start(self: threading.Thread) -> None:
            account = current_account()
            if account is not None and not getattr(self, "_devstack_own_invocation", False):
                run = self.run

                def accounted_run() -> None:
                    _ACCOUNT.current = account
                    ident = threading.get_ident()
                    account.child_started(ident, time.thread_time())
                    try:
                        run()
                    finally:
                        account.child_ended(ident, time.thread_time())

                self.run = accounted_run  # type: ignore[method-assign]
            original(self)

        start.__devstack_original__ = original  # type: ignore[attr-defined]
        threading.Thread.start = start  # type: ignore[method-assign]


@dataclass
class LambdaRuntime:
    """The registry of template functions and the in-process loader/invoker."""

    repo_root: Path = REPO_ROOT
    _functions: dict[str, FunctionSpec] = field(default_factory=dict)
    _handlers: dict[str, Handler] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _async: set[threading.Thread] = field(default_factory=set)
    _invocations: list[Invocation] = field(default_factory=list)

    def take_invocations(self) -> list[Invocation]:
        """Every invocation recorded since the last call (and forget them)."""
        with self._lock:
            taken, self._invocations = self._invocations, []
        return taken

    # ------------------------------------------------------------------------------------ registry
    def register(self, spec: FunctionSpec) -> None:
        with self._lock:
            self._functions[spec.name] = spec
            self._handlers.pop(spec.name, None)
        if not spec.module_file.is_file():
            LOG.warning(
                "%s: handler file %s does not exist (yet): invoking it will fail", spec.logical_id, spec.module_file
            )

    def functions(self) -> list[FunctionSpec]:
        with self._lock:
            return list(self._functions.values())

    def spec(self, name_or_arn: str) -> FunctionSpec:
        """A function by name, ARN, or qualified ARN (`...:function:name:$LATEST`)."""
        name = name_or_arn
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        elif ":" in name:
            name = name.split(":", 1)[0]
        with self._lock:
            try:
                return self._functions[name]
            except KeyError:
                raise FunctionNotFoundError(
                    f"no function {name_or_arn!r} was deployed from the template "
                    f"(known: {', '.join(sorted(self._functions)) or 'none'})"
                ) from None

    # ------------------------------------------------------------------------------------ loading
    def ensure_import_paths(self, extra: Iterable[Path] = ()) -> None:
        """Make the repository (for `functions.*`) and the layers (like /opt/python) importable."""
        for path in (self.repo_root, *extra):
            text = str(path)
            if path.is_dir() and text not in sys.path:
                sys.path.append(text)

    def module_name_for(self, spec: FunctionSpec) -> str | None:
        """`functions.api.app` when the code sits in a package under the repository, else None."""
        try:
            relative = spec.code_dir.relative_to(self.repo_root)
        except ValueError:
            return None
        package_dir = self.repo_root
        for part in relative.parts:
            package_dir = package_dir / part
            if not (package_dir / "__init__.py").is_file():
                return None
        return ".".join((*relative.parts, spec.module_name))

    def _load_module(self, spec: FunctionSpec) -> ModuleType:
        if not spec.module_file.is_file():
            raise ModuleNotFoundError(
                f"{spec.logical_id}: handler module {spec.module_file} not found (Handler {spec.handler!r}, "
                f"CodeUri {spec.code_dir})"
            )
        dotted = self.module_name_for(spec)
        if dotted is not None:
            self.ensure_import_paths()
            return importlib.import_module(dotted)
        unique = f"_devstack_lambda.{spec.name}.{spec.module_name}".replace("-", "_")
        if unique in sys.modules:
            return sys.modules[unique]
        module_spec = importlib.util.spec_from_file_location(unique, spec.module_file)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {spec.module_file}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[unique] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique]
            raise
        return module

    def handler(self, name_or_arn: str) -> Handler:
        spec = self.spec(name_or_arn)
        with self._lock:  # one import per function, like one cold start
            if spec.name not in self._handlers:
                module = self._load_module(spec)
                func = getattr(module, spec.function_attr, None)
                if not callable(func):
                    raise AttributeError(
                        f"{spec.logical_id}: {spec.module_file} has no function {spec.function_attr!r}"
                    )
                self._handlers[spec.name] = func
            return self._handlers[spec.name]

    # ------------------------------------------------------------------------------------ invoking
    def invoke(self, name_or_arn: str, event: Any, *, request_id: str | None = None) -> Any:
        """Call the handler; its exceptions propagate unchanged."""
        spec = self.spec(name_or_arn)
        func = self.handler(spec.name)
        context = make_context(spec, request_id)
        install_thread_accounting()
        outer, account = current_account(), CpuAccount()
        _ACCOUNT.current = account
        started = time.monotonic()
        try:
            return func(event, context)
        finally:
            elapsed = time.monotonic() - started
            _ACCOUNT.current = outer
            action = event.get("action") if isinstance(event, dict) else None
            record = Invocation(
                spec.name,
                spec.memory_size,
                math.ceil(elapsed * 1000),
                account.close(),
                action if isinstance(action, str) else None,
                started,
            )
            with self._lock:
                self._invocations.append(record)
            if elapsed > spec.timeout:
                LOG.warning(
                    "%s ran %.1f s, over its Timeout of %s s: AWS would have stopped it",
                    spec.name,
                    elapsed,
                    spec.timeout,
                )

    def invoke_payload(self, name_or_arn: str, payload: bytes | str | None) -> tuple[bytes, bool]:
        """Lambda's Invoke contract: JSON in, (JSON out, errored); errors become Lambda's error payload."""
        try:
            event = json.loads(payload) if payload else {}
        except (TypeError, ValueError) as exc:
            return _json_bytes({"errorType": "InvalidRequestContentException", "errorMessage": str(exc)}), True
        try:
            result = self.invoke(name_or_arn, event)
        except Exception as exc:
            LOG.error("%s failed: %s", name_or_arn, "".join(traceback.format_exception(exc)).rstrip())
            return _json_bytes(error_payload(exc)), True
        try:
            return _json_bytes(result), False
        except (TypeError, ValueError) as exc:
            return _json_bytes(
                {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}"}
            ), True

    def invoke_async(self, name_or_arn: str, payload: bytes | str | None) -> None:
        """Lambda's asynchronous invoke: run on a background thread (errors are logged, as Lambda would)."""
        self.spec(name_or_arn)  # fail now for an unknown function

        def run() -> None:
            try:
                body, errored = self.invoke_payload(name_or_arn, payload)
                if errored:
                    LOG.error("asynchronous invocation of %s failed: %s", name_or_arn, body[:2000].decode())
            finally:
                with self._lock:
                    self._async.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"lambda-async-{name_or_arn[-40:]}", daemon=True)
        thread._devstack_own_invocation = True  # type: ignore[attr-defined]  # recorded as its own invocation
        with self._lock:
            self._async.add(thread)
        thread.start()

    def wait_for_async(self, timeout: float = 30.0) -> bool:
        """Wait for asynchronous invocations to finish; True if none is left running."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._async)
            if not threads:
                return True
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                with self._lock:
                    return not self._async


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


# The runtime moto's patched invoke uses: the stack registers the template's functions here.
RUNTIME = LambdaRuntime()


# ---------------------------------------------------------------------------------------------- moto patch
def _header(headers: Any, name: str, default: str) -> str:
    if headers is None:
        return default
    getter = getattr(headers, "get", None)
    if getter is not None:
        for key in (name, name.lower(), name.title()):
            value = getter(key)
            if value:
                return str(value)
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name.lower() and value:
                return str(value)
    return default


def moto_lambda_class() -> type:
    """moto's LambdaFunction after checking it is the exact version and signature the patch expects."""
    import moto

    version = getattr(moto, "__version__", "unknown")
    if version != EXPECTED_MOTO_VERSION:
        raise MotoCompatibilityError(
            f"the local stack patches moto {EXPECTED_MOTO_VERSION} internals but moto {version} is installed: "
            f"pip install moto[server]=={EXPECTED_MOTO_VERSION} (requirements-dev.txt), or port devstack"
        )
    from moto.awslambda import models

    cls: type | None = getattr(models, "LambdaFunction", None)
    method = getattr(cls, "invoke", None)
    if cls is None or method is None:
        raise MotoCompatibilityError("moto.awslambda.models.LambdaFunction.invoke is missing")
    target = getattr(method, "__devstack_original__", method)
    parameters = tuple(inspect.signature(target).parameters)
    if parameters != EXPECTED_INVOKE_PARAMETERS:
        raise MotoCompatibilityError(
            f"moto.awslambda.models.LambdaFunction.invoke{parameters} does not have the expected parameters "
            f"{EXPECTED_INVOKE_PARAMETERS}"
        )
    return cls


def _patched_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes | str:
    invocation_type = _header(request_headers, "X-Amz-Invocation-Type", "RequestResponse")
    name = str(self.function_name)
    if invocation_type == "DryRun":
        RUNTIME.spec(name)
        return b""
    if invocation_type == "Event":
        try:
            RUNTIME.invoke_async(name, body)
        except FunctionNotFoundError as exc:
            LOG.error("%s", exc)
        return ""
    try:
        payload, errored = RUNTIME.invoke_payload(name, body)
    except FunctionNotFoundError as exc:
        payload, errored = _json_bytes({"errorType": "Runtime.HandlerNotFound", "errorMessage": str(exc)}), True
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    return payload


def install_moto_patch() -> None:
    """Replace moto's LambdaFunction.invoke with the in-process runner (idempotent, guarded)."""
    cls = moto_lambda_class()
    current = cls.invoke  # type: ignore[attr-defined]
    if getattr(current, "__devstack_original__", None) is not None:
        return
    _patched_invoke.__devstack_original__ = current  # type: ignore[attr-defined]
    cls.invoke = _patched_invoke  # type: ignore[attr-defined]


def uninstall_moto_patch() -> None:
    cls = moto_lambda_class()
    original = getattr(cls.invoke, "__devstack_original__", None)  # type: ignore[attr-defined]
    if original is not None:
        cls.invoke = original  # type: ignore[attr-defined]


def moto_patch_installed() -> bool:
    from moto.awslambda import models

    return getattr(models.LambdaFunction.invoke, "__devstack_original__", None) is not None
