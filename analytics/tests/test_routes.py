"""Route templates from the factory's route list, and the guards against unbounded routes."""

from __future__ import annotations

import pytest
from factory_analytics.routes import NOT_FOUND, RouteTable


@pytest.mark.parametrize(
    ("path", "status", "template"),
    [
        ("/health-monitoring/uptime/git", 200, "/health-monitoring/uptime/{hostname}"),
        (
            "/health-monitoring/uptime/chocolate-factory?hours=48",
            200,
            "/health-monitoring/uptime/{hostname}",
        ),
        ("/health-monitoring/uptime/caf%C3%A9", 200, "/health-monitoring/uptime/{hostname}"),
        (
            "/health-monitoring/connection-stats/git",
            404,
            "/health-monitoring/connection-stats/{hostname}",
        ),
        ("/dashboard/complete/", 200, "/dashboard/complete"),
        ("/ree/prices?start_date=2025-12-20", 200, "/ree/prices"),
        (
            "/predict/prices/models/price-forecast/status",
            200,
            "/predict/prices/models/price-forecast/status",
        ),
        ("/static/js/app.min.js", 200, "/static/{path:path}"),
        ("/tailscale/whois/100.64.0.1", 200, "/tailscale/whois/{ip}"),
        ("http://factory:8000/version", 200, "/version"),
        ("/", 307, "/"),
        ("/orders/12345/items/9f86d081884c7d659a2feaa0c55ad015", 200, "/orders/{id}/items/{id}"),
        ("/wp-login.php", 404, NOT_FOUND),
        ("/.env", 404, NOT_FOUND),
    ],
)
def test_templates(path: str, status: int, template: str) -> None:
    assert RouteTable().template(path, status) == template


def test_known_route_answered_404_keeps_its_template() -> None:
    assert RouteTable().template("/ree/prices/latest", 404) == "/ree/prices/latest"


def test_extra_templates_per_source() -> None:
    table = RouteTable(["/api/v1/repos/{owner}/{repo}"])
    assert table.template("/api/v1/repos/ana/factory") == "/api/v1/repos/{owner}/{repo}"


def test_bad_template_is_rejected() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        RouteTable(["ree/prices"])
