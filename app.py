"""ShopPulse's Chalice app: the edges only. Every route and handler delegates to chalicelib."""

from collections.abc import Mapping
from typing import Any

from chalice import Chalice, Response
from chalice.app import SQSEvent

from chalicelib import settings
from chalicelib.api import dashboard, http, params, services
from chalicelib.api.openapi import (
    CASES_PAGE_DEFAULT,
    CASES_PAGE_MAX,
    DAILY_PAGE_MAX,
    RUNS_PAGE_DEFAULT,
    RUNS_PAGE_MAX,
    openapi_document,
)
from chalicelib.app_environment import required_variables
from chalicelib.kpis import DailyKpis
from chalicelib.pipes import DEAD_LETTER_BATCH_SIZE, PREMIUM_PIPE, STANDARD_PIPE
from chalicelib.streaming import services as streaming
from chalicelib.streaming.batch import BatchResponse

# In Lambda a missing variable stops the function at start (every one named), never a default name.
settings.require(required_variables())

# configure_logs=False: Chalice would otherwise set the `shoppulse` logger (app.log, named after
# the app) to ERROR with its own stdout handler and no propagation
# (https://aws.github.io/chalice/topics/logging), silencing every `shoppulse.*` module's INFO and
# WARNING logs in any process that imports the app (the local stack). Our Lambda code logs
# with powertools loggers (own JSON handler and level), so nothing else changes in Lambda;
# Chalice's own error logs still reach the root logger.
app = Chalice(app_name="shoppulse", configure_logs=False)

# --- Stream-fed handlers and dead-letter handler (real-time orders) -------------------------
# Pipes invoke these with a JSON list of DynamoDB stream records and read batchItemFailures.


@app.lambda_function(name=STANDARD_PIPE.function_name)
def standard_order_processing(event: list[Any], context: Any) -> BatchResponse:
    return streaming.standard_batches().process(event)


@app.lambda_function(name=PREMIUM_PIPE.function_name)
def premium_order_service(event: list[Any], context: Any) -> BatchResponse:
    return streaming.premium_batches().process(event)


# Chalice reads `queue` when it imports this module: `chalice deploy/package --stage S` import it
# with the stage's `environment_variables` already in os.environ (chalice.cli.factory
# `load_chalice_app`), and the generated stage block (infra.chalice_stage) holds the queue names.
@app.on_sqs_message(
    queue=STANDARD_PIPE.dead_letter_queue.name(),
    batch_size=DEAD_LETTER_BATCH_SIZE,
    name=STANDARD_PIPE.dead_letter_function_name,
)
def standard_order_dead_letters(event: SQSEvent) -> BatchResponse:
    return streaming.dead_letters().handle(STANDARD_PIPE, ((r.to_dict()["messageId"], r.body) for r in event))


@app.on_sqs_message(
    queue=PREMIUM_PIPE.dead_letter_queue.name(),
    batch_size=DEAD_LETTER_BATCH_SIZE,
    name=PREMIUM_PIPE.dead_letter_function_name,
)
def premium_order_dead_letters(event: SQSEvent) -> BatchResponse:
    return streaming.dead_letters().handle(PREMIUM_PIPE, ((r.to_dict()["messageId"], r.body) for r in event))


# --- REST API over the KPI tables -----------------------------------------------------------

app.register_middleware(http.client_errors_as_json, "http")


def query() -> Mapping[str, str]:
    request = app.current_request
    assert request is not None  # only called while a route runs
    return request.query_params or {}


@http.get(app, "/")
def dashboard_page() -> Response:
    return http.html(dashboard.page())


@http.get(app, "/health")
def health() -> dict[str, Any]:
    return {"status": "ok", "service": app.app_name, "auth": http.auth_mode().value}


@http.get(app, "/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_document(http.auth_mode().value)


@http.get(app, "/kpis/daily")
def daily_kpis() -> dict[str, Any]:
    return services.kpi_queries().daily(
        params.parse_range(query()), params.parse_page(query(), DAILY_PAGE_MAX, DAILY_PAGE_MAX)
    )


@http.get(app, "/kpis/daily/{date}")
def daily_kpis_of_day(date: str) -> DailyKpis:
    return services.kpi_queries().day(params.parse_date(params.path_value(date, "date"), "date"))


@http.get(app, "/kpis/categories")
def categories_of_day() -> dict[str, Any]:
    return services.kpi_queries().categories_of_day(params.parse_date(query().get("date"), "date"))


@http.get(app, "/kpis/categories/{category}")
def category_kpis(category: str) -> dict[str, Any]:
    name = params.path_value(category, "category")
    return services.kpi_queries().category(
        name, params.parse_range(query()), params.parse_page(query(), DAILY_PAGE_MAX, DAILY_PAGE_MAX)
    )


@http.get(app, "/categories")
def known_categories() -> dict[str, list[str]]:
    return services.kpi_queries().known_categories()


@http.get(app, "/runs")
def runs() -> dict[str, Any]:
    return services.run_queries().recent(params.parse_page(query(), RUNS_PAGE_DEFAULT, RUNS_PAGE_MAX))


@http.get(app, "/runs/{id}")
def run(id: str) -> dict[str, Any]:
    return services.run_queries().get(params.path_value(id, "id", params.MAX_ID_BYTES))


@http.get(app, "/orders/{orderId}/events")
def order_events(orderId: str) -> dict[str, Any]:
    return services.order_queries().events(params.path_value(orderId, "orderId", params.MAX_ID_BYTES))


@http.get(app, "/premium-cases")
def premium_cases() -> dict[str, Any]:
    page = params.parse_page(query(), CASES_PAGE_DEFAULT, CASES_PAGE_MAX)
    return services.order_queries().premium_cases(query().get("status", "open"), page)
