"""factory_analytics: who uses the Chocolate Factory, which endpoints, how fast, and how the
machine is doing.

The service collects (tailnet presence, access logs, synthetic probes, host and container
metrics), stores raw rows and hourly rollups in SQLite, and serves the v1 JSON API
(analytics/API.md), Prometheus metrics and a dashboard widget.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
