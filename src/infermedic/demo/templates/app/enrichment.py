"""Feature enrichment: the request's features, refreshed from the feature store."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlencode

from .churn import Customer


def enrich(customer: Customer, feature_store_url: str, customer_id: str) -> Customer:
    """The customer with `support_calls` as the feature store knows it now."""
    query = urlencode({"support_calls": customer.support_calls})
    url = f"{feature_store_url}/v1/customers/{customer_id}/features?{query}"
    # demo fault: no timeout; when the store stalls, the request (and a pool thread) waits.
    with urllib.request.urlopen(url) as response:
        latest = json.load(response)
    return customer.model_copy(update={"support_calls": int(latest["support_calls"])})
