"""HTTP side: the v1 JSON API, /healthz, /metrics and the /widget page (see analytics/API.md)."""
