"""The merged stack as CloudFormation will see it: SAM translated offline.

`chalice package` writes a SAM template (`AWS::Serverless::*`, `Transform: AWS::Serverless-2016-10-31`);
CloudFormation expands it at deploy time with the library SAM itself uses, `aws-sam-translator`.
Running that library here shows the resources that will really exist (the functions' `TracingConfig`,
the event source mappings, the API stage) so the checks (`infra.template_rules`, cfn-lint) judge
those, not the shorthand. https://github.com/aws/serverless-application-model

Two things a deployment supplies are stood in for, as `aws cloudformation package` and
CloudFormation would: each local `CodeUri` becomes an S3 URI (package uploads the bundle and
writes its `s3://bucket/key`), and the region (the pseudo parameters SAM resolves for ARNs).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

# What `aws cloudformation package` would write for the uploaded Lambda bundle.
PACKAGED_CODE_URI = "s3://shoppulse-artifacts/shoppulse/deployment.zip"
TRANSLATION_REGION = "us-east-1"


class TranslationError(ValueError):
    """SAM refused the template: what CloudFormation would report when creating the change set."""


def _no_managed_policies() -> dict[str, str]:
    # Every function has an explicit role (Chalice `iam_policy_file`, `autogen_policy` off): SAM
    # never needs the name -> ARN map of AWS managed policies (an IAM call) for them.
    raise TranslationError("a function without an explicit role needs AWS managed policies: give it a role")


def packaged(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The template as `aws cloudformation package` leaves it: local code URIs become S3 URIs."""
    template = copy.deepcopy(sam_template)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "")).startswith(
            "s3://"
        ):
            properties["CodeUri"] = PACKAGED_CODE_URI
    return template


def translate(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The plain CloudFormation template SAM expands `sam_template` into."""
    os.environ.setdefault("AWS_DEFAULT_REGION", TRANSLATION_REGION)
    try:
        translated: dict[str, Any] = Translator(None, Parser()).translate(
            packaged(sam_template), parameter_values={}, get_managed_policy_map=_no_managed_policies
        )
    except InvalidDocumentException as error:
        raise TranslationError("; ".join(str(cause) for cause in error.causes)) from error
    return translated


def write_translated(sam_path: Path) -> Path:
    """Translate `<dir>/sam.json` into `<dir>/translated.json` (what cfn-lint then reads)."""
    translated = translate(json.loads(sam_path.read_text()))
    out = sam_path.with_name("translated.json")
    out.write_text(json.dumps(translated, indent=2, sort_keys=True) + "\n")
    return out
