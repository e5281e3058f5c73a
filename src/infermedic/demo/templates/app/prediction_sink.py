"""Ships each prediction to the log collector, which keeps the record for audits and drift."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class PredictionSink:
    """Sends one record per prediction to the collector at `url`."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def write(self, record: dict[str, Any]) -> None:
        """Deliver `record`; returns once the collector has acknowledged it."""
        request = urllib.request.Request(
            self.url,
            data=json.dumps(record).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            response.read()
