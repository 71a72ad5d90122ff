"""`sam build` of infra/template.yaml with the pinned SAM CLI, and the checks over what it builds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.build import checks, sam


def _elf_files(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): machine
        for path in sorted(directory.rglob("*"))
        if path.is_file() and (machine := checks.elf_machine(path)) is not None
    }


def test_sam_validate_lint_passes() -> None:
    assert "is a valid SAM Template" in sam.validate_lint()


def test_every_function_declares_one_architecture_and_the_layer_is_built_for_it(target_build: sam.Build) -> None:
    functions, layers = checks.read_build(target_build.directory)
    assert {fn.architecture for fn in functions} == {target_build.function_arch}
    assert {lid for fn in functions for lid in fn.layers} == set(layers) == {"SharedLayer"}
    assert layers["SharedLayer"].architectures == (target_build.function_arch,)


def test_the_build_passes_every_check(target_build: sam.Build) -> None:
    assert checks.problems(target_build.directory) == []
    # Not vacuous: the layer holds native code (pydantic_core), all of it for the functions' architecture.
    natives = _elf_files(target_build.directory / "SharedLayer")
    assert any("_pydantic_core" in name for name in natives), natives
    assert set(natives.values()) == {sam.ELF_MACHINES[target_build.function_arch]}


def test_a_layer_built_for_the_wrong_architecture_fails_the_checks(wrong_layer_build: sam.Build) -> None:
    found = checks.problems(wrong_layer_build.directory)
    natives = _elf_files(wrong_layer_build.directory / "SharedLayer")
    assert set(natives.values()) == {sam.ELF_MACHINES[wrong_layer_build.layer_arch]}
    for name in natives:  # each foreign extension is named, with its architecture
        assert any(name in line and sam.ELF_MACHINES[wrong_layer_build.layer_arch] in line for line in found), found
    functions = checks.read_build(wrong_layer_build.directory)[0]
    incompatible = [line for line in found if "layer SharedLayer is compatible with" in line]
    assert len(incompatible) == len(functions), found


def test_a_layer_holding_one_foreign_extension_fails_the_checks(
    target_build: sam.Build, wrong_layer_build: sam.Build, tmp_path: Path
) -> None:
    """One .so of the other architecture, copied into a copy of the good build, is found."""
    copy = tmp_path / "build"
    shutil.copytree(target_build.directory, copy, symlinks=True)
    foreign = next(p for p in (wrong_layer_build.directory / "SharedLayer").rglob("*.so") if "charset" in str(p))
    shutil.copy(foreign, copy / "SharedLayer" / "python" / "charset_normalizer" / foreign.name)
    found = checks.problems(copy)
    assert found and all(foreign.name in line for line in found), found


def test_a_handler_that_names_a_missing_function_fails_the_checks(target_build: sam.Build, tmp_path: Path) -> None:
    copy = tmp_path / "build"
    shutil.copytree(target_build.directory, copy, symlinks=True)
    template = copy / "template.yaml"
    text = template.read_text(encoding="utf-8")
    assert text.count("Handler: app.handler") >= 2
    template.write_text(text.replace("Handler: app.handler", "Handler: app.handle", 1), encoding="utf-8")
    (copy / "SchedulerFunction" / "app.py").unlink()
    found = checks.problems(copy)
    assert any("defines no 'handle'" in line for line in found), found
    assert any(line.startswith("SchedulerFunction: handler module 'app'") for line in found), found


def test_every_handler_imports_from_its_code_and_layer_alone(host_build: sam.Build) -> None:
    """A fresh interpreter with only the function's code, its layer's python/ and the standard library
    (boto3 is the Lambda runtime's; no handler imports it at init)."""
    assert checks.import_problems(host_build.directory) == []


def test_the_import_check_fails_on_a_layer_for_another_architecture(
    target_build: sam.Build, wrong_layer_build: sam.Build
) -> None:
    """The failure the functions would have on Lambda with a layer of the wrong architecture."""
    foreign = wrong_layer_build if target_build.layer_arch == sam.host_architecture() else target_build
    found = checks.import_problems(foreign.directory)
    assert found and all("pydantic_core._pydantic_core" in line for line in found), found


def test_the_builds_for_both_architectures_hold_the_same_python(
    target_build: sam.Build, wrong_layer_build: sam.Build
) -> None:
    """So importing the build for this machine proves the target build's Python code."""
    assert checks.pure_python_differences(target_build.directory, wrong_layer_build.directory) == []


def test_every_function_with_its_layer_stays_under_lambdas_unzipped_limit(target_build: sam.Build) -> None:
    sizes = checks.sizes(target_build.directory)
    assert sizes["layers"]["SharedLayer"] > 1_000_000  # the dependencies are in it
    for logical_id, total in sizes["functions_with_layers"].items():
        assert 0 < total < checks.LAMBDA_UNZIPPED_LIMIT, (logical_id, total)


def test_retarget_layer_changes_the_layers_architecture_settings_only() -> None:
    text = sam.TEMPLATE.read_text(encoding="utf-8")
    arch = sam.function_architecture(text)
    other = sam.other_architecture(arch)
    moved = sam.retarget_layer(text, other)
    assert sam.function_architecture(moved) == arch
    assert f"BuildArchitecture: {other}" in moved and f"CompatibleArchitectures: [{other}]" in moved
    assert f"BuildArchitecture: {arch}" not in moved and f"CompatibleArchitectures: [{arch}]" not in moved


def test_an_extension_for_another_cpython_fails_the_checks(target_build: sam.Build, tmp_path: Path) -> None:
    copy = tmp_path / "build"
    shutil.copytree(target_build.directory, copy, symlinks=True)
    extension = next((copy / "SharedLayer" / "python" / "pydantic_core").glob("_pydantic_core.cpython-*.so"))
    extension.rename(extension.with_name(re.sub(r"cpython-\d+", "cpython-312", extension.name)))
    runtime = checks.read_build(copy)[0][0].runtime
    found = checks.problems(copy)
    assert len(found) == 1 and "_pydantic_core.cpython-312" in found[0], found
    assert found[0].endswith(f"is built for CPython 3.12, not {runtime}"), found


def test_the_layer_holds_no_command_line_client(host_build: sam.Build) -> None:
    """The CLI (cli/sourcesync_cli, click, rich) is a client: what sam build puts in the layer is without it."""
    _, layers = checks.read_build(host_build.directory)
    python = layers["SharedLayer"].python_dir
    assert (python / "sourcesync" / "api").is_dir()  # the layer's own package is there
    assert not (python / "sourcesync" / "cli.py").exists()
    assert not [p for p in python.iterdir() if p.name.startswith(("sourcesync_cli", "click", "rich"))]
