"""The factory stand-in's alert endpoints: predictive, current conditions, Tailscale monitoring.

Split from factory_stub.py (same conventions): the documented shapes of the alert endpoints,
the failures the API reports inside a 200 (a known pitfall: a Tailscale monitor whose proxy is
down reports zero nodes and no alerts), and a flood of long alerts for the context budget's
worst case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from factory_mcp.testing.factory_stub import Scenario

RouteDecorator = Callable[[str], Callable[[Any], Route]]

LONG_TEXT = (
    "Se prevé un precio de la electricidad muy por encima de la media durante varias horas "
    "consecutivas; conviene revisar la planificación de conchado y templado, aplazar los "
    "procesos de mayor consumo a las horas valle y comprobar la climatización de la sala de "
    "producción antes del inicio del turno para evitar paradas y sobrecostes innecesarios."
)


def _flood(count: int, make: Any) -> list[dict[str, Any]]:
    return [make(i) for i in range(count)]


def alert_routes(s: Scenario, route: RouteDecorator) -> list[Route]:
    """The alert and /health-monitoring routes, bound to scenario `s`."""

    @route("/insights/alerts")
    async def predictive_alerts(_: Request) -> Response:
        if s.alerts_error:
            return JSONResponse({"status": "error", "alerts": [], "message": "Prophet falló"})
        if s.alerts_quiet_failure:
            return JSONResponse(
                {"status": "success", "alerts": [], "message": "Error generando alertas: Influx"}
            )
        when = (s.local_now() + timedelta(hours=8)).replace(minute=0, second=0, tzinfo=None)
        alerts = [
            {
                "type": "price_spike",
                "severity": "high",
                "icon": "⚠️",
                "message": "Pico de precio previsto 0.31 €/kWh",
                "recommendation": "Reducir carga",
                "datetime": when.isoformat(),
            }
        ]
        alerts += _flood(
            s.alert_flood,
            lambda i: {
                "type": ("price_spike", "heat_wave", "optimal_window", "production_boost")[i % 4],
                "severity": ("high", "medium", "info", "info")[i % 4],
                "icon": "⚠️",
                "message": f"{i}: {LONG_TEXT}",
                "recommendation": LONG_TEXT,
                "datetime": (when + timedelta(hours=i)).isoformat(),
            },
        )
        return JSONResponse(
            {
                "status": "success",
                "alerts": alerts,
                "active_count": len(alerts),
                "high_severity_count": sum(a["severity"] == "high" for a in alerts),
            }
        )

    @route("/dashboard/alerts")
    async def current_alerts(_: Request) -> Response:
        alerts = [
            {
                "type": "energy",
                "level": "info",
                "message": "Precio bajo 0.09 €/kWh",
                "action": "Aprovechar",
            }
        ]
        alerts += _flood(
            s.alert_flood,
            lambda i: {
                "type": ("energy", "temperature", "humidity", "production")[i % 4],
                "level": ("high", "critical", "warning", "critical")[i % 4],
                "message": f"{i}: {LONG_TEXT}",
                "action": LONG_TEXT,
            },
        )
        levels = ("critical", "warning", "high", "info")
        return JSONResponse(
            {
                "🏢": "Alertas",
                "alerts": alerts,
                "alert_counts": {k: sum(a["level"] == k for a in alerts) for k in levels},
                # Naive, clock unverified (§2.5 shows a bare naive time for the dashboard and
                # §2.6 elides it); this stand-in writes local wall time, one possible reading.
                "timestamp": s.local_now().replace(tzinfo=None).isoformat(timespec="seconds"),
            }
        )

    # The project's three nodes; `git` is offline (the one infrastructure alert below).
    nodes = [
        ("chocolate-factory", "100.64.0.1", True, "production"),
        ("chocolate-factory-dev", "100.64.0.2", True, "development"),
        ("git", "100.64.0.3", False, "git"),
    ]

    @route("/health-monitoring/summary")
    async def infra_summary(_: Request) -> Response:
        listed = [] if s.tailscale_proxy_down else nodes
        online = sum(n[2] for n in listed)
        critical = [n for n in listed if n[3] != "other"]
        critical_online = sum(n[2] for n in critical)
        return JSONResponse(
            {
                "timestamp": s.naive_utc(),
                "total_nodes": len(listed),
                "online_nodes": online,
                "offline_nodes": len(listed) - online,
                "critical_nodes": {
                    "total": len(critical),
                    "online": critical_online,
                    "offline": len(critical) - critical_online,
                    # An empty list counts as 100 %, as /critical does (pitfall 6).
                    "health_percentage": round(100 * critical_online / len(critical), 1)
                    if critical
                    else 100.0,
                },
                "nodes": [
                    {
                        "hostname": host,
                        "ip": ip,
                        "online": up,
                        "node_type": kind,
                        "last_seen": (s.now - timedelta(hours=0 if up else 3)).isoformat(),
                    }
                    for host, ip, up, kind in listed
                ],
            }
        )

    @route("/health-monitoring/alerts")
    async def infra_alerts(_: Request) -> Response:
        if s.tailscale_proxy_down:
            return JSONResponse(
                {
                    "timestamp": s.naive_utc(),
                    "total_alerts": 0,
                    "active_alerts": [],
                    "status": "ok",
                }
            )
        active = [
            {
                "severity": "warning",
                "type": "node_offline",
                "hostname": "git",
                "node_type": "git",
                "message": "git está offline",
                "action": "Revisar nodo",
                "last_seen": (s.now - timedelta(hours=3)).isoformat(),
            }
        ]
        active += _flood(
            s.alert_flood,
            lambda i: {
                "severity": "critical" if i % 2 else "warning",
                "type": "node_offline",
                "hostname": f"chocolate-factory-{i}",
                "node_type": "production",
                "message": f"chocolate-factory-{i}: {LONG_TEXT}",
                "action": LONG_TEXT,
                "last_seen": (s.now - timedelta(hours=i + 1)).isoformat(),
            },
        )
        return JSONResponse(
            {
                "timestamp": s.naive_utc(),
                "total_alerts": len(active),
                "active_alerts": active,
                "status": "alerts_present",
            }
        )

    return [predictive_alerts, current_alerts, infra_summary, infra_alerts]
