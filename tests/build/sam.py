"""Build infra/template.yaml with the pinned SAM CLI (`make sam`: .local/sam-venv), without Docker.

Two builds of the one template, each into .aws-sam/ (cached there between runs; `sam build --cached`):

- `target`: the template as it is, for the architecture its functions declare (what `make deploy` ships);
  its build directory is SAM's default, .aws-sam/build.
- `other_layer`: the same template with the layer built for the other architecture (x86_64 when the
  functions run on arm64), the functions unchanged: the mistake the build checks must catch.

`host` names whichever of the two has a layer this machine can import (the import check, the cold-init
benchmark, the local deploy of the built template): `other_layer` on x86_64, `target` on arm64.

A variant's template is written to .aws-sam/variants/<name>/infra/template.yaml beside links to the rest of
infra/ (state machine definitions), and built with `--base-dir infra`, so every relative path resolves as
it does for the real template.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "template.yaml"
SAM_VENV = ROOT / ".local" / "sam-venv"
SAM = SAM_VENV / "bin" / "sam"
AWS_SAM = ROOT / ".aws-sam"
TARGET_BUILD = AWS_SAM / "build"

ARCHITECTURES = ("arm64", "x86_64")
# Lambda's architecture names -> the ELF e_machine of its native code (pyelftools' names).
ELF_MACHINES = {"arm64": "EM_AARCH64", "x86_64": "EM_X86_64"}

# One line each, e.g. "    Architectures: [arm64]": group 1 is what stays, group 2 the value.
_BUILD_ARCH = re.compile(r"^([ \t]*BuildArchitecture:[ \t]*)(\S+)[ \t]*$", re.MULTILINE)
_COMPATIBLE_ARCHS = re.compile(r"^([ \t]*CompatibleArchitectures:[ \t]*)\[([^\]\n]*)\][ \t]*$", re.MULTILINE)
_FUNCTION_ARCHS = re.compile(r"^([ \t]*Architectures:[ \t]*)\[([^\]\n]*)\][ \t]*$", re.MULTILINE)


class BuildError(Exception):
    """sam build or sam validate failed (the message holds its output)."""


def host_architecture() -> str:
    """This machine's architecture in Lambda's words."""
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def other_architecture(arch: str) -> str:
    return next(a for a in ARCHITECTURES if a != arch)


def function_architecture(template_text: str) -> str:
    """The architecture the template's functions declare (Globals.Function.Architectures; one for all)."""
    found = {m.group(2).strip() for m in _FUNCTION_ARCHS.finditer(template_text)}
    if len(found) != 1 or found & {""}:
        raise BuildError(f"expected one Architectures setting for the functions, found {sorted(found)}")
    return found.pop()


def _replace(pattern: re.Pattern[str], text: str, value: str, what: str) -> str:
    new, count = pattern.subn(lambda m: m.group(1) + value, text)
    if count == 0:
        raise BuildError(f"the template has no {what} setting to change")
    return new


def retarget_layer(template_text: str, layer_arch: str) -> str:
    """The template with its layer built for (and declared compatible with) `layer_arch`."""
    text = _replace(_BUILD_ARCH, template_text, layer_arch, "BuildArchitecture")
    return _replace(_COMPATIBLE_ARCHS, text, f"[{layer_arch}]", "CompatibleArchitectures")


def sam_environment() -> dict[str, str]:
    """The SAM CLI's environment: telemetry off, no update check, no AWS credentials or profile needed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAM_"))}
    env.update(SAM_CLI_TELEMETRY="0", SAM_CLI_DISABLE_UPDATE_CHECK="1", AWS_DEFAULT_REGION="us-east-1")
    return env


def ensure_sam() -> Path:
    """The pinned SAM CLI, created by `make sam` if it is not there yet."""
    if not SAM.is_file():
        subprocess.run(["make", "-s", "sam"], cwd=ROOT, check=True)
    return SAM


def run_sam(*args: str, cwd: Path = ROOT) -> str:
    """Run the SAM CLI in `cwd`: `sam build --cached` keeps its dependency cache in <cwd>/.aws-sam/deps
    and removes the entries the current build does not use, so each variant needs a directory of its own."""
    result = subprocess.run(
        [str(ensure_sam()), *args], cwd=cwd, env=sam_environment(), capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise BuildError(f"sam {' '.join(args)} exited {result.returncode}:\n{output[-6000:]}")
    return output


@dataclass(frozen=True)
class Build:
    name: str
    directory: Path  # holds template.yaml and one directory per function and layer
    function_arch: str
    layer_arch: str

    @property
    def template(self) -> Path:
        return self.directory / "template.yaml"


def _variant_template(name: str, text: str) -> Path:
    """`text` as .aws-sam/variants/<name>/infra/template.yaml, beside links to the rest of infra/."""
    infra = AWS_SAM / "variants" / name / "infra"
    if infra.exists():
        shutil.rmtree(infra)
    infra.mkdir(parents=True)
    for entry in INFRA.iterdir():
        if entry.name != TEMPLATE.name:
            (infra / entry.name).symlink_to(entry)
    path = infra / TEMPLATE.name
    path.write_text(text, encoding="utf-8")
    return path


def build(name: str) -> Build:
    """Run `sam build` for one variant ("target", "other_layer", or "host": the one of those two whose layer
    is for this machine) and return where it went."""
    text = TEMPLATE.read_text(encoding="utf-8")
    function_arch = function_architecture(text)
    if name == "host":
        name = "target" if host_architecture() == function_arch else "other_layer"
    if name == "target":
        cache = ["--cached", "--cache-dir", str(AWS_SAM / "cache" / name)]
        run_sam("build", "--template-file", str(TEMPLATE), "--build-dir", str(TARGET_BUILD), *cache)
        return Build(name, TARGET_BUILD, function_arch, function_arch)
    if name != "other_layer":
        raise ValueError(f"unknown build {name!r}")
    layer_arch = other_architecture(function_arch)
    template = _variant_template(name, retarget_layer(text, layer_arch))
    directory = AWS_SAM / "variants" / name / "build"
    run_sam(
        "build",
        "--template-file",
        str(template),
        "--base-dir",
        str(INFRA),
        "--build-dir",
        str(directory),
        "--cached",
        "--cache-dir",
        str(AWS_SAM / "cache" / name),
        cwd=template.parent.parent,
    )
    return Build(name, directory, function_arch, layer_arch)


def validate_lint() -> str:
    """`sam validate --lint` on the source template (cfn-lint as the SAM CLI bundles it)."""
    return run_sam("validate", "--lint", "--template-file", str(TEMPLATE))


def main(argv: list[str]) -> int:
    """`python -m tests.build.sam [target|other_layer|host]`: build one variant, print its template's path."""
    print(build(argv[0] if argv else "host").template)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
