"""The REST API's model: query classes over the KPI, run and order tables, request parsing,
pagination tokens and the OpenAPI document. The HTTP edge lives in `http.py` and app.py."""
