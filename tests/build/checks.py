"""Checks over a `sam build` output directory: would each function start on Lambda?

`problems(build_dir)` lists what is wrong (empty: nothing found) and `sizes(build_dir)` gives the unzipped
sizes. Run by hand on any build: `.venv/bin/python -m tests.build.checks .aws-sam/build`.

- every native extension (ELF file) in a function's code and in its layers is an ELF object for the
  function's architecture (e_machine read with pyelftools), and each layer declares that architecture
  and the function's runtime as compatible;
- every handler resolves to a file (in the function's code, or a layer's python/) that defines the function;
- every function with its layers stays under Lambda's 250 MB unzipped;
- `import_problems(build_dir)` (only for a build of this machine's architecture) imports each handler in a
  fresh interpreter whose only paths are the function's code, its layers' python/ and the standard library,
  as on Lambda (`/var/task`, `/opt/python`), and checks that nothing came from anywhere else.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from devstack.template import Template
from tests.build.sam import ELF_MACHINES

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # a function's code and all its layers, unzipped
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class BuiltFunction:
    logical_id: str
    code_dir: Path
    module: str  # "app"
    attribute: str  # "handler"
    runtime: str
    architecture: str
    layers: tuple[str, ...]  # logical ids
    environment: dict[str, str]


@dataclass(frozen=True)
class BuiltLayer:
    logical_id: str
    content_dir: Path
    architectures: tuple[str, ...]
    runtimes: tuple[str, ...]

    @property
    def python_dir(self) -> Path:
        """What Lambda puts on sys.path from a layer (/opt/python)."""
        return self.content_dir / "python"


def _layer_refs(value: object) -> tuple[str, ...]:
    refs = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("Ref"), str):
            refs.append(item["Ref"])
    return tuple(refs)


def read_build(build_dir: Path) -> tuple[list[BuiltFunction], dict[str, BuiltLayer]]:
    """The functions and layers of a built template (paths are the build's own directories)."""
    template = Template(build_dir / "template.yaml")
    layers: dict[str, BuiltLayer] = {}
    for logical_id in template.logical_ids("AWS::Serverless::LayerVersion"):
        props = template.properties(logical_id)
        layers[logical_id] = BuiltLayer(
            logical_id,
            (template.base_dir / str(props["ContentUri"])).resolve(),
            tuple(props.get("CompatibleArchitectures") or ["x86_64"]),
            tuple(props.get("CompatibleRuntimes") or []),
        )
    global_layers = _layer_refs(((template.raw.get("Globals") or {}).get("Function") or {}).get("Layers"))
    functions = []
    for spec in template.functions():
        own = template.properties(spec.logical_id).get("Layers")
        if len(spec.architectures) != 1:
            raise ValueError(f"{spec.logical_id}: Architectures must name one architecture: {spec.architectures}")
        functions.append(
            BuiltFunction(
                spec.logical_id,
                spec.code_dir,
                spec.module_name,
                spec.function_attr,
                spec.runtime,
                spec.architectures[0],
                (*global_layers, *_layer_refs(own)),  # SAM appends a function's Layers to the global ones
                spec.environment,
            )
        )
    return functions, layers


def _files(directory: Path) -> Iterator[Path]:
    return (p for p in sorted(directory.rglob("*")) if p.is_file() and not p.is_symlink())


def elf_machine(path: Path) -> str | None:
    """The ELF e_machine of a file ("EM_AARCH64", "EM_X86_64"...), None if it is not an ELF file."""
    with path.open("rb") as handle:
        if handle.read(4) != ELF_MAGIC:
            return None
        handle.seek(0)
        try:
            return str(ELFFile(handle).header["e_machine"])
        except ELFError as exc:
            return f"unreadable ELF ({exc})"


_CPYTHON_TAG = re.compile(r"\.cpython-(\d)(\d+)-")


def native_problems(directory: Path, architecture: str, runtime: str, owner: str) -> list[str]:
    """Every ELF file under `directory` that is not for `architecture`, or whose name says it is an
    extension of another CPython than the runtime's ("python3.11": .cpython-311-)."""
    expected = ELF_MACHINES[architecture]
    found = []
    for path in _files(directory):
        machine = elf_machine(path)
        if machine is None:
            continue
        relative = path.relative_to(directory)
        if machine != expected:
            found.append(f"{owner}: {relative} is {machine}, the function runs on {architecture} ({expected})")
        tag = _CPYTHON_TAG.search(path.name)
        if tag and f"python{tag.group(1)}.{tag.group(2)}" != runtime:
            found.append(f"{owner}: {relative} is built for CPython {tag.group(1)}.{tag.group(2)}, not {runtime}")
    return found


def defines(module_file: Path, name: str) -> bool:
    """Whether the module binds `name` at its top level (def, class, assignment or import)."""
    tree = ast.parse(module_file.read_text(encoding="utf-8"), filename=str(module_file))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
        if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and getattr(node.target, "id", None) == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            return True
    return False


def handler_file(function: BuiltFunction, layers: dict[str, BuiltLayer]) -> Path | None:
    relative = Path(*function.module.split("."))
    for base in (function.code_dir, *(layers[lid].python_dir for lid in function.layers if lid in layers)):
        for candidate in (base / f"{relative}.py", base / relative / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def directory_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in _files(directory))


def sizes(build_dir: Path) -> dict[str, dict[str, int]]:
    """Unzipped bytes: each layer's, each function's own code, each function with its layers."""
    functions, layers = read_build(build_dir)
    layer_sizes = {lid: directory_size(layer.content_dir) for lid, layer in layers.items()}
    own = {fn.logical_id: directory_size(fn.code_dir) for fn in functions}
    return {
        "layers": layer_sizes,
        "functions": own,
        "functions_with_layers": {
            fn.logical_id: own[fn.logical_id] + sum(layer_sizes.get(lid, 0) for lid in fn.layers) for fn in functions
        },
    }


def _layer_problems(fn: BuiltFunction, layers: dict[str, BuiltLayer], checked: set[tuple[str, str, str]]) -> list[str]:
    """A function's layers: declared compatible with it, importable (python/), native code for it."""
    found = []
    for lid in fn.layers:
        layer = layers.get(lid)
        if layer is None:
            found.append(f"{fn.logical_id}: layer {lid} is not a layer of this template")
            continue
        if fn.architecture not in layer.architectures:
            found.append(f"{fn.logical_id}: layer {lid} is compatible with {layer.architectures} only")
        if fn.runtime not in layer.runtimes:
            found.append(f"{fn.logical_id}: layer {lid} is compatible with runtimes {layer.runtimes} only")
        if not layer.python_dir.is_dir():
            found.append(f"{lid}: {layer.python_dir} is missing (Lambda imports a layer's python/)")
        elif (lid, fn.architecture, fn.runtime) not in checked:  # each layer once per architecture and runtime
            checked.add((lid, fn.architecture, fn.runtime))
            found += native_problems(layer.content_dir, fn.architecture, fn.runtime, f"{lid} (for {fn.logical_id})")
    return found


def _handler_problems(fn: BuiltFunction, layers: dict[str, BuiltLayer]) -> list[str]:
    module_file = handler_file(fn, layers)
    if module_file is None:
        return [f"{fn.logical_id}: handler module {fn.module!r} is neither in its code nor in a layer"]
    if not defines(module_file, fn.attribute):
        return [f"{fn.logical_id}: {module_file.name} defines no {fn.attribute!r}"]
    return []


def problems(build_dir: Path) -> list[str]:
    """Everything that would stop a function of this build from starting on Lambda (empty: none found)."""
    functions, layers = read_build(build_dir)
    if not functions:
        return [f"{build_dir}: the built template has no functions"]
    found: list[str] = []
    checked: set[tuple[str, str, str]] = set()
    for fn in functions:
        if fn.architecture not in ELF_MACHINES:
            found.append(f"{fn.logical_id}: unknown architecture {fn.architecture!r}")
        elif not fn.code_dir.is_dir():
            found.append(f"{fn.logical_id}: code directory {fn.code_dir} is missing")
        else:
            found += native_problems(fn.code_dir, fn.architecture, fn.runtime, fn.logical_id)
            found += _layer_problems(fn, layers, checked)
            found += _handler_problems(fn, layers)
    for logical_id, total in sizes(build_dir)["functions_with_layers"].items():
        if total >= LAMBDA_UNZIPPED_LIMIT:
            found.append(f"{logical_id}: {total / 2**20:.1f} MiB unzipped with its layers, Lambda's limit is 250 MiB")
    return found


_PLATFORM_TAG = re.compile(r"(aarch64|arm64|x86_64|amd64)")


def _layer_fingerprint(directory: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file but native code and wheel metadata (whose names or contents
    name the platform); native files count by name, with the platform left out."""
    prints = {}
    for path in _files(directory):
        relative = str(path.relative_to(directory))
        if ".dist-info/" in relative or "__pycache__/" in relative:
            continue
        if elf_machine(path) is not None:
            prints[_PLATFORM_TAG.sub("<arch>", relative)] = "native"
        else:
            prints[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return prints


def pure_python_differences(build_a: Path, build_b: Path) -> list[str]:
    """Files that differ between two builds of one template for different architectures, apart from native
    code and wheel metadata (each function's code and each layer)."""
    functions_a, layers_a = read_build(build_a)
    functions_b, layers_b = read_build(build_b)
    dirs_a = {fn.logical_id: fn.code_dir for fn in functions_a} | {k: v.content_dir for k, v in layers_a.items()}
    dirs_b = {fn.logical_id: fn.code_dir for fn in functions_b} | {k: v.content_dir for k, v in layers_b.items()}
    if set(dirs_a) != set(dirs_b):
        return [f"different resources: {sorted(set(dirs_a) ^ set(dirs_b))}"]
    found = []
    for logical_id in sorted(dirs_a):
        a, b = _layer_fingerprint(dirs_a[logical_id]), _layer_fingerprint(dirs_b[logical_id])
        found += [f"{logical_id}: {name}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    return found


# Runs in a fresh interpreter (-S -E: no site-packages, no PYTHON* variables; -B: leaves the build as it
# is), with only Lambda's paths.
_IMPORT_PROBE = """
import importlib, json, sys, sysconfig
paths, module, attribute = json.loads(sys.argv[1])
sys.path[:0] = paths
handler = getattr(importlib.import_module(module), attribute, None)
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
allowed = (*paths, *stdlib)
outside = sorted(
    f"{name} ({getattr(mod, '__file__', None)})"
    for name, mod in list(sys.modules.items())
    if getattr(mod, "__file__", None) and not str(mod.__file__).startswith(allowed)
)
print(json.dumps({"callable": callable(handler), "outside": outside}))
"""


def import_problems(build_dir: Path, python: str = sys.executable) -> list[str]:
    """Import every handler of a build made for this machine, as Lambda would; list what fails."""
    functions, layers = read_build(build_dir)
    found = []
    for fn in functions:
        paths = [str(fn.code_dir), *(str(layers[lid].python_dir) for lid in fn.layers if lid in layers)]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **fn.environment}
        result = subprocess.run(
            [python, "-S", "-E", "-B", "-c", _IMPORT_PROBE, json.dumps([paths, fn.module, fn.attribute])],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if result.returncode != 0:
            found.append(f"{fn.logical_id}: importing {fn.module} failed:\n{result.stderr[-3000:]}")
            continue
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        if not answer["callable"]:
            found.append(f"{fn.logical_id}: {fn.module}.{fn.attribute} is not a callable")
        if answer["outside"]:
            found.append(
                f"{fn.logical_id}: modules loaded from outside the function and its layers: {answer['outside']}"
            )
    return found


def main(argv: list[str]) -> int:
    build_dir = Path(argv[0] if argv else ".aws-sam/build")
    found = problems(build_dir)
    for line in found:
        print(line)
    print(json.dumps(sizes(build_dir), indent=2))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
