"""Data files shipped with `infermedic.instrument`: a Grafana dashboard and Prometheus alerts."""
