"""Every reference in the code and the docs points at something in the repository: no citation of a
document that lives outside it (a product spec, design notes, local-stack notes), and every
`docs/<file>.md#<anchor>` names a file and a heading that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCANNED = ["shared", "cli", "functions", "devstack", "docs", "infra", "benchmarks", "tests", "README.md", "Makefile"]
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".toml", ".txt", ".asl", ""}

#: Files allowed to cite a document outside the repository for a while (none now: keep it so).
IN_FLIGHT_ALLOWLIST: frozenset[str] = frozenset()

CITATIONS = re.compile(
    r"\bSPEC(?:'s)?\s*(?:§|sections?\b|\d)"  # "SPEC §4", "SPEC section 3", "SPEC 2.1"
    r"|\bSPEC's\b|\(SPEC\)"
    r"|DESIGN-NOTES|LOCAL-STACK|\bSTYLE habit"
    r"|\.\./shared/\w|/work/shared"
)
DOC_LINK = re.compile(r"docs/([\w.-]+\.md)#([\w-]+)")


def _files() -> list[Path]:
    found: list[Path] = []
    for entry in SCANNED:
        path = REPO / entry
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for candidate in candidates:
            parts = set(candidate.relative_to(REPO).parts)
            if parts & {"__pycache__", "node_modules", ".venv"} or ".egg-info" in str(candidate):
                continue
            if candidate.is_file() and candidate.suffix in SUFFIXES and candidate != Path(__file__).resolve():
                found.append(candidate)
    return found


FILES = _files()


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub renders it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for line in doc.read_text().splitlines() if line.startswith("#")}


def test_the_scan_sees_the_code_and_the_docs() -> None:
    names = {str(path.relative_to(REPO)) for path in FILES}
    assert {"shared/sourcesync/config.py", "docs/architecture.md", "README.md", "infra/template.yaml"} <= names


def test_no_file_cites_a_document_outside_the_repository() -> None:
    cited = []
    for path in FILES:
        relative = str(path.relative_to(REPO))
        if relative in IN_FLIGHT_ALLOWLIST:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if CITATIONS.search(line):
                cited.append(f"{relative}:{number}: {line.strip()}")
    assert cited == []


def test_the_allowlist_names_only_files_that_exist() -> None:
    assert sorted(name for name in IN_FLIGHT_ALLOWLIST if not (REPO / name).is_file()) == []


@pytest.mark.parametrize(
    "text", ["(SPEC section 4)", "SPEC §1", "SPEC 2.3", "DESIGN-NOTES", "see /work/shared/X.md", "(STYLE habit 4)"]
)
def test_the_pattern_catches_each_form_of_citation(text: str) -> None:
    assert CITATIONS.search(text)


@pytest.mark.parametrize("text", ["SPEC = ConnectorSpec(", 'getattr(module, "SPEC")', "ContentUri: ../shared/"])
def test_the_pattern_leaves_code_alone(text: str) -> None:
    assert not CITATIONS.search(text)


def test_every_docs_anchor_cited_exists() -> None:
    broken = []
    for path in FILES:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            for doc_name, anchor in DOC_LINK.findall(line):
                doc = REPO / "docs" / doc_name
                if not doc.is_file() or anchor not in _anchors(doc):
                    broken.append(f"{path.relative_to(REPO)}:{number}: docs/{doc_name}#{anchor}")
    assert broken == []
