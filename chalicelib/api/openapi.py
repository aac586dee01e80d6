"""The API's route table and the OpenAPI 3.0 document generated from it.

app.py takes each route's options from here, and a test checks that the paths here are
exactly Chalice's routes, so the document cannot drift from what is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.api.params import MAX_RANGE_DAYS
from chalicelib.kpi_fields import TABLES, Field, KpiTable, Unit

DAILY_PAGE_MAX = MAX_RANGE_DAYS
RUNS_PAGE_DEFAULT, RUNS_PAGE_MAX = 50, 200
CASES_PAGE_DEFAULT, CASES_PAGE_MAX = 50, 200

_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_MONEY = {"type": "number", "minimum": 0}
_RATE = {"type": "number", "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None, extra: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": extra,
    }


# Items a listing could not serve (chalicelib.api.readable): their keys and why.
_UNREADABLE = {
    "unreadable": {
        "type": "array",
        "items": _obj({"key": {"type": "object"}, "reason": {"type": "string"}}),
    }
}


_BY_UNIT: dict[Unit, dict[str, Any]] = {
    Unit.DATE: _DATE,
    Unit.TEXT: {"type": "string"},
    Unit.COUNT: _COUNT,
    Unit.MONEY: _MONEY,
    Unit.RATE: _RATE,
}


def _property(f: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {**_BY_UNIT[f.unit], "title": f.label, "description": f.definition}
    if not f.always:  # absent when 0 (chalicelib.kpis.served)
        schema["exclusiveMinimum"] = True
    return schema


def kpi_schema(table: KpiTable) -> dict[str, Any]:
    """A served item of a KPI table, from the definition (chalicelib/kpi_fields.py): a property
    per field, titled with its dashboard label and described by its definition."""
    return _obj(
        {f.name: _property(f) for f in table.fields if f.always},
        {f.name: _property(f) for f in table.fields if not f.always},
    )


def _page(item: str, header: dict[str, Any] | None = None) -> dict[str, Any]:
    return _obj(
        {**(header or {}), "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}},
        {"next_token": {"type": "string"}, **_UNREADABLE},
    )


SCHEMAS: dict[str, Any] = {
    **{table.schema: kpi_schema(table) for table in TABLES},
    "DailyKpisPage": _page("DailyKpis", {"from": _DATE, "to": _DATE}),
    "CategoryKpisPage": _page("CategoryKpis", {"category": {"type": "string"}, "from": _DATE, "to": _DATE}),
    "CategoriesOfDay": _obj(
        {"date": _DATE, "items": {"type": "array", "items": {"$ref": "#/components/schemas/CategoryKpis"}}},
        _UNREADABLE,
    ),
    "Categories": _obj({"items": {"type": "array", "items": {"type": "string"}}}),
    "Run": _obj(
        {"run_id": {"type": "string"}, "status": {"type": "string"}, "started_at": {"type": "string"}}, extra=True
    ),
    "RunPage": _page("Run"),
    "OrderEvent": _obj(
        {
            "orderId": {"type": "string"},
            "pipeline": {"type": "string", "enum": ["standard", "premium"]},
            "event_id": {"type": "string"},
            "event_name": {"type": "string", "enum": ["INSERT", "MODIFY", "REMOVE"]},
            "status": {"type": "string"},
            "amount": {"type": "number"},
            "time": {"type": "string"},
        },
        extra=True,
    ),
    "OrderEvents": _obj(
        {
            "orderId": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/OrderEvent"}},
        },
        _UNREADABLE,
    ),
    "PremiumCase": _obj(
        {
            "orderId": {"type": "string"},
            "case_status": {"type": "string"},
            "amount": {"type": "number"},
            "opened_at": {"type": "string"},
        },
        extra=True,
    ),
    "PremiumCasePage": _page("PremiumCase", {"status": {"type": "string", "enum": ["open", "all"]}}),
    "Health": _obj(
        {"status": {"type": "string", "enum": ["ok"]}, "service": {"type": "string"}, "auth": {"type": "string"}}
    ),
    "Error": _obj({"Code": {"type": "string"}, "Message": {"type": "string"}}, {"parameter": {"type": "string"}}),
}


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "path" or "query"
    schema: dict[str, Any]
    description: str
    required: bool = False

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "description": self.description,
            "schema": self.schema,
        }


def _limit(default: int, maximum: int) -> Param:
    return Param(
        "limit", "query", {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}, "Page size."
    )


_TOKEN = Param("next_token", "query", {"type": "string"}, "The `next_token` of the previous page (opaque).")
_RANGE = (
    Param("from", "query", _DATE, "First order date (inclusive).", True),
    Param("to", "query", _DATE, f"Last order date (inclusive); at most {MAX_RANGE_DAYS} days after `from`.", True),
)


@dataclass(frozen=True)
class Operation:
    path: str
    summary: str
    response: str  # a schema name, or "text/html"
    params: tuple[Param, ...] = ()
    public: bool = False  # served without authentication (holds no data)
    not_found: bool = False
    tags: tuple[str, ...] = field(default=("kpis",))

    def document(self, secured: bool) -> dict[str, Any]:
        if self.response == "text/html":
            ok = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
        else:
            ok = {
                "description": "OK",
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{self.response}"}}},
            }
        responses: dict[str, Any] = {"200": ok}
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if self.params:
            responses["400"] = {"description": "A parameter is missing or invalid", **error}
        if self.not_found:
            responses["404"] = {"description": "No such resource", **error}
        doc: dict[str, Any] = {
            "summary": self.summary,
            "operationId": _operation_id(self.path),
            "tags": list(self.tags),
            "parameters": [p.document() for p in self.params],
            "responses": responses,
        }
        if not self.public and secured:
            doc["security"] = [{"stage_auth": []}]
        return doc


OPERATIONS: tuple[Operation, ...] = (
    Operation("/", "The dashboard", "text/html", public=True, tags=("dashboard",)),
    Operation("/health", "Liveness of the API", "Health", public=True, tags=("meta",)),
    Operation("/openapi.json", "This document", "OpenApi", public=True, tags=("meta",)),
    Operation(
        "/kpis/daily",
        "Daily KPIs over a date range, ascending",
        "DailyKpisPage",
        (*_RANGE, _limit(DAILY_PAGE_MAX, DAILY_PAGE_MAX), _TOKEN),
    ),
    Operation(
        "/kpis/daily/{date}",
        "The KPIs of one day",
        "DailyKpis",
        (Param("date", "path", _DATE, "Order date."),),
        not_found=True,
    ),
    Operation(
        "/kpis/categories",
        "Every category of one day, highest revenue first",
        "CategoriesOfDay",
        (Param("date", "query", _DATE, "Order date.", True),),
    ),
    Operation(
        "/kpis/categories/{category}",
        "One category's daily KPIs over a date range, ascending",
        "CategoryKpisPage",
        (
            Param("category", "path", {"type": "string", "minLength": 1}, "Category name, percent-encoded."),
            *_RANGE,
            _limit(DAILY_PAGE_MAX, DAILY_PAGE_MAX),
            _TOKEN,
        ),
    ),
    Operation("/categories", "The known categories, by name", "Categories"),
    Operation(
        "/runs",
        "Processed files and their outcomes, newest first",
        "RunPage",
        (_limit(RUNS_PAGE_DEFAULT, RUNS_PAGE_MAX), _TOKEN),
        tags=("runs",),
    ),
    Operation(
        "/runs/{id}",
        "One processed file's outcome",
        "Run",
        (
            Param(
                "id",
                "path",
                {"type": "string", "minLength": 1},
                "The run id, percent-encoded once (e.g. `s3%3A%2F%2Fbucket%2Fincoming%2Ff.csv`).",
            ),
        ),
        not_found=True,
        tags=("runs",),
    ),
    Operation(
        "/orders/{orderId}/events",
        "The stream events processed for one order, oldest first",
        "OrderEvents",
        (Param("orderId", "path", {"type": "string", "minLength": 1}, "Order id, percent-encoded."),),
        not_found=True,
        tags=("orders",),
    ),
    Operation(
        "/premium-cases",
        "Premium customer-service cases, newest first",
        "PremiumCasePage",
        (
            Param(
                "status",
                "query",
                {"type": "string", "enum": ["open", "all"], "default": "open"},
                "`open` (default) or `all`.",
            ),
            _limit(CASES_PAGE_DEFAULT, CASES_PAGE_MAX),
            _TOKEN,
        ),
        tags=("orders",),
    ),
)
_BY_PATH = {op.path: op for op in OPERATIONS}


def operation(path: str) -> Operation:
    return _BY_PATH[path]


def _operation_id(path: str) -> str:
    words = [w.strip("{}").replace("-", "_").replace(".", "_") for w in path.split("/") if w]
    return "get_" + ("_".join(words) or "dashboard")


def openapi_document(auth: str) -> dict[str, Any]:
    """The document for the stage's authentication mode (`none`, `api_key` or `iam`)."""
    schemes = {
        "api_key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "iam": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "AWS Signature Version 4 (execute-api:Invoke)",
            "x-amazon-apigateway-authtype": "awsSigv4",
        },
    }
    secured = auth in schemes
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ShopPulse KPI API",
            "version": "1.0.0",
            "description": "Daily and per-category KPIs, file runs and order events. Money has 2 decimals, rates are 0..1 with 4 decimals.",
        },
        "paths": {op.path: {"get": op.document(secured)} for op in OPERATIONS},
        "components": {
            "schemas": {**SCHEMAS, "OpenApi": {"type": "object", "required": ["openapi", "paths"]}},
            "securitySchemes": {"stage_auth": schemes[auth]} if secured else {},
        },
    }
