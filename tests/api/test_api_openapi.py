"""The OpenAPI document matches the routes, and schemathesis finds no server error against the
app served over HTTP on moto (positive and negative examples, a bounded number per route)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

# Schema-valid requests may still break rules OpenAPI cannot state (from <= to, at most 366
# days, a token bound to its query): those get a 400, which this check would call a failure.
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app import app
from chalicelib.api import http
from chalicelib.api.openapi import OPERATIONS, openapi_document
from chalicelib.runs import RunRepository
from chalicelib.storage_layout import RunIdentity
from tests.api_support import moto_tables, put_all, serve, synthetic_kpis

EXAMPLES_PER_MODE = 25
ROOT = Path(__file__).resolve().parents[2]


def test_every_route_is_documented_and_every_documented_path_is_a_route() -> None:
    assert set(app.routes) == {op.path for op in OPERATIONS}
    for op in OPERATIONS:
        assert list(app.routes[op.path]) == ["GET"]
        path_params = {p.name for p in op.params if p.where == "path"}
        assert path_params == set(re.findall(r"{(\w+)}", op.path)) == set(app.routes[op.path]["GET"].view_args)


# What API Gateway gets: Chalice's own Swagger for the app imported as `chalice package`
# imports it, with the stage's environment (a fresh interpreter: route options are fixed at import).
_SWAGGER = """
import json
from chalice.deploy.swagger import SwaggerGenerator
from app import app
paths = SwaggerGenerator("us-east-1", {"api_handler_arn": "arn:aws:lambda:us-east-1:1:function:f"}).generate_swagger(app)["paths"]
print(json.dumps({p: v["get"].get("security", []) for p, v in paths.items()}))
"""


@pytest.mark.parametrize(("mode", "security"), [("none", []), ("api_key", [{"api_key": []}]), ("iam", [{"sigv4": []}])])
def test_authentication_is_chosen_per_stage_for_data_routes_only(mode: str, security: list[Any]) -> None:
    env = {**os.environ, "API_AUTH": mode}
    done = subprocess.run(
        [sys.executable, "-c", _SWAGGER], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    secured = json.loads(done.stdout.strip().splitlines()[-1])
    assert {path: secured[path] for path in ("/kpis/daily", "/runs/{id}", "/premium-cases")} == dict.fromkeys(
        ("/kpis/daily", "/runs/{id}", "/premium-cases"), security
    )
    assert secured["/"] == secured["/health"] == secured["/openapi.json"] == []
    document = openapi_document(mode)
    assert ("security" in document["paths"]["/kpis/daily"]["get"]) is bool(security)
    assert "security" not in document["paths"]["/health"]["get"]


def test_an_unknown_auth_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_AUTH", "open-sesame")
    with pytest.raises(ValueError, match="API_AUTH"):
        http.route("/kpis/daily")


@pytest.fixture(scope="module")
def live_api() -> Iterator[str]:
    """Served as `shoppulse up` serves it. No API Gateway in front to check keys or signatures,
    so the document must not promise any (schemathesis checks that auth is enforced)."""
    with moto_tables() as tables, pytest.MonkeyPatch.context() as patch:
        patch.setenv("API_AUTH", "none")
        daily, categories = synthetic_kpis(date(2024, 1, 1), 60)
        put_all(tables["DailyKpisTable"], daily)
        put_all(tables["CategoryKpisTable"], categories)
        RunRepository(tables["RunsTable"]).start(RunIdentity("shoppulse-input", "incoming/a b.csv", "v1"))
        with serve(app) as base_url:
            yield base_url


def test_the_served_document_is_the_generated_one(live_api: str) -> None:
    response = requests.get(f"{live_api}/openapi.json", timeout=10)
    assert response.status_code == 200 and response.json() == openapi_document("none")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_schemathesis_finds_no_server_error_nor_schema_violation(live_api: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    schema.config.update(base_url=live_api)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_MODE,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(base_url=live_api, excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing invalid to send: no constrained parameter
        except Exception as err:  # noqa: BLE001 - one line per failing operation, then fail once
            failures.append(f"{operation.path}: {err}")
    assert not failures, "\n".join(failures)
