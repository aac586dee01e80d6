"""The whole stack for one stage: every builder in order, and what `shoppulse synth` writes.

- `infra.json`: the troposphere stack alone (deployable on its own next to `chalice deploy`).
- `merge.json`: the same plus the overlay of the Chalice resources, the input of
  `chalice package --merge-template` (whose output is the one stack `shoppulse deploy` deploys).
The `.chalice/` stage block and policy files are resolved from `merge` by `infra.chalice_stage`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from troposphere import Equals, Parameter, Ref, Template

from chalicelib.pipes import PIPES_BY_KEY
from infra import (
    api,
    ecs,
    encryption,
    events,
    execution_watch,
    functions,
    messaging,
    monitoring,
    network,
    pipes,
    reconciliation,
    storage,
    tables,
    workflow,
)
from infra.context import Stack

PIPES_CONDITION = "CreatePipes"


@dataclass(frozen=True)
class Rendered:
    stage: str
    infra: dict[str, Any]
    merge: dict[str, Any]


def build_stack(stage: str) -> tuple[Stack, dict[str, Any]]:
    """Build the troposphere stack; returns it with the Chalice overlay resources."""
    stack = Stack(stage)
    t = stack.template
    t.set_version("2010-09-09")
    t.set_description(f"ShopPulse ({stage}): batch KPI workflow, order stream pipes, storage, monitoring")
    create_pipes = t.add_parameter(
        Parameter(
            PIPES_CONDITION,
            Type="String",
            Default="true",
            AllowedValues=["true", "false"],
            Description="false only for a first deployment next to a plain `chalice deploy` (the pipes' functions do not exist yet)",
        )
    )
    t.add_condition(PIPES_CONDITION, Equals(Ref(create_pipes), "true"))
    key = encryption.build(stack)
    buckets = storage.build(stack, key)
    all_tables = tables.build(stack, key)
    topics_and_queues = messaging.build(stack, key)
    batch = ecs.build(stack, network.build(stack), buckets, all_tables, key)
    machine = workflow.build(stack, batch, buckets, all_tables, topics_and_queues, key)
    events.build(stack, buckets, machine, topics_and_queues)
    execution_watch.build(stack, machine, all_tables, topics_and_queues, key)
    reconciliation.build(stack, batch)
    order_pipes = pipes.build(stack, all_tables, topics_and_queues, key, PIPES_CONDITION)
    monitoring.build(stack, machine, topics_and_queues, PIPES_CONDITION)
    api_logging = api.build(stack, key)
    overlay = functions.overlay(stack, all_tables, topics_and_queues, key.key_arn) | api.overlay(stack, api_logging)
    for spec_key, pipe in order_pipes.pipes.items():
        target = next(f for f in functions.FUNCTIONS if f.name == PIPES_BY_KEY[spec_key].function_name)
        # In the merged stack the function is a resource: create it before the pipe invoking it.
        overlay[pipe.title] = {"DependsOn": [target.logical_id]}
    return stack, overlay


def build_template(stage: str) -> Template:
    """The troposphere stack alone (the local runtime reads task definitions and the rule from it)."""
    return build_stack(stage)[0].template


def render(stage: str) -> Rendered:
    stack, overlay = build_stack(stage)
    infra = json.loads(stack.template.to_json())
    merge = json.loads(stack.template.to_json())
    for logical_id, extra in json.loads(json.dumps(overlay, default=_to_dict)).items():
        merge["Resources"].setdefault(logical_id, {}).update(extra)
    merge["Outputs"].update(json.loads(json.dumps(api.OVERLAY_OUTPUTS, default=_to_dict)))
    return Rendered(stage, infra, merge)


def _to_dict(value: Any) -> Any:
    """JSON form of troposphere (`to_dict`) and awacs (`JSONrepr`) objects."""
    return value.to_dict() if hasattr(value, "to_dict") else value.JSONrepr()
