"""Turn infra/template.yaml into plain CloudFormation with aws-sam-translator, without any AWS access.

`sam build`/`sam deploy` would package the template first (upload local code, inline state machine
definitions) and then let CloudFormation run the SAM transform. `translate()` does both steps offline:

1. `package()` rewrites local `CodeUri` / `ContentUri` / API `DefinitionUri` to `s3://` URIs and reads each
   state machine's `DefinitionUri` file into `Definition` (its `DefinitionSubstitutions` stay as they are:
   the translator passes them on to `AWS::StepFunctions::StateMachine`, where CloudFormation applies them);
2. `samtranslator.translator.transform.transform()` runs with a region from the environment and a
   dict-backed managed-policy loader instead of IAM's ListPolicies.

Other tests (the local stack deploys the output to moto) import `translate` from here.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from tests.infrastructure.cfn_yaml import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
TEMPLATE_PATH = INFRA_DIR / "template.yaml"
STATE_MACHINE_DIR = INFRA_DIR / "statemachine"

REGION = "us-east-1"
ARTIFACT_BUCKET = "sourcesync-artifacts"

# What IAM's ListPolicies(Scope=AWS) would answer for the AWS managed policies a SAM template may name.
# The translator looks a name up here only when its own bundled map lacks it.
AWS_MANAGED_POLICIES: Mapping[str, str] = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    "AWSLambdaRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
}

# Resource type → its property that names a local artifact `sam package` uploads to S3.
_UPLOADED_PROPERTIES: Mapping[str, str] = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}
_STATE_MACHINE = "AWS::Serverless::StateMachine"


class TranslationError(Exception):
    """The SAM translator rejected the template; the message lists every cause it gave."""


class DictManagedPolicyLoader(ManagedPolicyLoader):  # type: ignore[misc]  # samtranslator ships no py.typed
    """A `ManagedPolicyLoader` answered from a dict instead of IAM.

    `transform()` calls `load()` lazily, only for a policy name missing from the translator's bundled map.
    `loads` counts those calls so that a test can tell whether the stand-in was needed.
    """

    def __init__(self, policies: Mapping[str, str] = AWS_MANAGED_POLICIES) -> None:
        # No super().__init__(): it wants an IAM client, which is exactly what we avoid.
        self._policy_map = dict(policies)
        self.loads = 0

    def load(self) -> dict[str, str]:
        self.loads += 1
        return dict(self._policy_map)


def resources_of_type(template: Mapping[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    """The template's resources of the given types, by logical id, in template order."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") in types
    }


@dataclass(frozen=True)
class FunctionEvent:
    """One entry of a function's `Events`."""

    function_id: str
    event_id: str
    type: str
    properties: dict[str, Any]

    @property
    def test_id(self) -> str:
        route = f" {self.properties.get('Method')} {self.properties.get('Path')}" if self.type == "HttpApi" else ""
        return f"{self.function_id}.{self.event_id}{route}"


def events_of_type(template: Mapping[str, Any], *types: str) -> list[FunctionEvent]:
    """Each function event of the given types, in template order."""
    found: list[FunctionEvent] = []
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        events = (function.get("Properties") or {}).get("Events") or {}
        for event_id, event in events.items():
            if isinstance(event, dict) and event.get("Type") in types:
                found.append(FunctionEvent(function_id, event_id, event["Type"], event.get("Properties") or {}))
    return found


def is_local_path(uri: Any) -> bool:
    """A string that `sam package` would upload (not already an S3 URI; not a Bucket/Key mapping)."""
    return isinstance(uri, str) and not uri.startswith("s3://")


def definition_path(uri: str, base_dir: Path) -> Path:
    """The file a local `DefinitionUri` points at (relative to the template's folder)."""
    return (base_dir / uri).resolve()


def _s3_uri(logical_id: str, local_path: str) -> str:
    name = PurePosixPath(local_path.rstrip("/")).name or "artifact"
    return f"s3://{ARTIFACT_BUCKET}/{logical_id}/{name}"


def _read_definition(logical_id: str, path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise TranslationError(f"{logical_id}: DefinitionUri file {path} does not exist") from error
    except json.JSONDecodeError as error:
        raise TranslationError(f"{logical_id}: {path} is not valid JSON: {error}") from error


def package(template: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy of `template` as `sam package` would leave it, without uploading anything."""
    packaged = copy.deepcopy(dict(template))
    for section in (packaged.get("Globals") or {}).values():
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(section, dict) and is_local_path(section.get(key)):
                section[key] = _s3_uri("Globals", section[key])
    for logical_id, resource in (packaged.get("Resources") or {}).items():
        properties = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(properties, dict):
            continue
        resource_type = resource.get("Type")
        prop = _UPLOADED_PROPERTIES.get(str(resource_type))
        if prop is not None and is_local_path(properties.get(prop)):
            properties[prop] = _s3_uri(logical_id, properties[prop])
        if resource_type == _STATE_MACHINE and is_local_path(properties.get("DefinitionUri")):
            path = definition_path(properties.pop("DefinitionUri"), base_dir)
            properties["Definition"] = _read_definition(logical_id, path)
    return packaged


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def translate(
    template_path: Path = TEMPLATE_PATH,
    parameter_values: Mapping[str, Any] | None = None,
    managed_policy_loader: ManagedPolicyLoader | None = None,
) -> dict[str, Any]:
    """The packaged template transformed into plain CloudFormation (no `AWS::Serverless::*` left)."""
    packaged = package(load_template(template_path), template_path.parent)
    loader = managed_policy_loader or DictManagedPolicyLoader()
    # The translator reads the region (for AWS::Region and the partition) through boto3's usual chain.
    with _environment(AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION):
        try:
            translated: dict[str, Any] = transform(packaged, dict(parameter_values or {}), loader)
        except InvalidDocumentException as error:
            causes = "\n".join(f"- {cause.message}" for cause in error.causes)
            raise TranslationError(f"{error.message}\n{causes}") from error
    return translated
