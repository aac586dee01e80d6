"""ShopPulse's Chalice app: the edges only. Every route and handler delegates to chalicelib."""
from chalice import Chalice

app = Chalice(app_name="shoppulse")

# --- Stream-fed handlers and dead-letter handler (real-time orders) -------------------------

# --- REST API over the KPI tables -----------------------------------------------------------
