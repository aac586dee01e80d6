"""The variables every function of the Chalice app is deployed with: one list for the app's
start-up check (`app.py`), the stack that sets them (`infra.functions`) and the generated
Chalice stage configuration (`infra.chalice_stage`)."""

from __future__ import annotations

from chalicelib.messaging import TOPICS
from chalicelib.pipes import PIPES
from chalicelib.resource_spec import ResourceSpec
from chalicelib.settings import API_AUTH, API_CORS_ORIGIN
from chalicelib.storage_layout import BUCKETS
from chalicelib.tables import ALL_TABLES

# Every table, bucket, topic and queue of the stage, by the variable that carries its deployed name.
APP_RESOURCES: tuple[ResourceSpec, ...] = (*ALL_TABLES, *BUCKETS, *TOPICS, *(p.dead_letter_queue for p in PIPES))
API_OPTIONS: tuple[str, ...] = (API_AUTH, API_CORS_ORIGIN)


def required_variables() -> tuple[str, ...]:
    return (*(spec.env_var for spec in APP_RESOURCES), *API_OPTIONS)
