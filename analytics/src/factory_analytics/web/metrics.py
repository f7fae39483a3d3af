"""`/metrics` in the Prometheus text format 0.0.4, for anyone who does want to scrape.

Counters are lifetime totals (`route_totals`, the sources' counters), never sums over rollups
that retention deletes, so they never go down; their labels are bounded (methods outside
HTTP's set are OTHER, routes past a source's cap are "(other)", reject reasons are a fixed
set). Gauges are the newest sample. Names and labels are listed in API.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, object]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[dict[str, object], float]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {_number(value)}")


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def render_metrics(conn: sqlite3.Connection) -> str:
    w = _Writer()
    rows = conn.execute(
        "SELECT method, route, sum(requests), sum(client_errors), sum(server_errors)"
        " FROM route_totals GROUP BY method, route ORDER BY route, method"
    ).fetchall()
    samples: list[tuple[dict[str, object], float]] = []
    for method, route, total, client_errors, server_errors in rows:
        for status_class, count in (
            ("ok", total - client_errors - server_errors),
            ("4xx", client_errors),
            ("5xx", server_errors),
        ):
            if count:
                samples.append(
                    ({"method": method, "route": route, "status_class": status_class}, count)
                )
    w.family(
        "factory_analytics_http_requests_total",
        "counter",
        "Requests seen in access logs.",
        samples,
    )
    sources = conn.execute(
        "SELECT name, parsed, unparseable, ignored, probes FROM sources ORDER BY name"
    ).fetchall()
    w.family(
        "factory_analytics_log_lines_total",
        "counter",
        "Log lines read per source and outcome (probe = this service's own probe requests).",
        [
            ({"source": name, "result": result}, value)
            for name, parsed, bad, ignored, probes in sources
            for result, value in (
                ("parsed", parsed),
                ("unparseable", bad),
                ("ignored", ignored),
                ("probe", probes),
            )
        ],
    )
    w.family(
        "factory_analytics_log_lines_rejected_total",
        "counter",
        "Log lines rejected per source and reason (also in unparseable above).",
        [
            ({"source": name, "reason": reason}, value)
            for name, reason, value in conn.execute(
                "SELECT s.name, r.reason, r.lines FROM source_rejects r"
                " JOIN sources s ON s.id = r.source_id ORDER BY s.name, r.reason"
            )
        ],
    )
    w.family(
        "factory_analytics_device_online",
        "gauge",
        "1 when the tailnet device is online (last poll).",
        [
            ({"hostname": h}, online)
            for h, online in conn.execute(
                "SELECT hostname, online FROM devices WHERE present = 1 ORDER BY hostname"
            )
        ],
    )
    last_probes = conn.execute(
        "SELECT name, ok, duration_ms FROM probe_results p WHERE id = "
        "(SELECT id FROM probe_results q WHERE q.name = p.name ORDER BY ts DESC, id DESC LIMIT 1)"
        " ORDER BY name"
    ).fetchall()
    w.family(
        "factory_analytics_probe_up",
        "gauge",
        "1 when the last check of the probe passed.",
        [({"probe": n}, ok) for n, ok, _ in last_probes],
    )
    w.family(
        "factory_analytics_probe_duration_seconds",
        "gauge",
        "Duration of the last answered check.",
        [({"probe": n}, d / 1000) for n, _, d in last_probes if d is not None],
    )
    host = conn.execute(
        "SELECT cpu_pct, load_1, memory_used_bytes, disk_used_bytes FROM host_samples"
        " ORDER BY ts DESC LIMIT 1"
    ).fetchone()
    if host is not None:
        cpu, load_1, mem, disk = host
        w.family(
            "factory_analytics_host_cpu_ratio", "gauge", "Host CPU busy, 0-1.", [({}, cpu / 100)]
        )
        w.family("factory_analytics_host_load1", "gauge", "Host 1-minute load.", [({}, load_1)])
        w.family(
            "factory_analytics_host_memory_used_bytes", "gauge", "Host memory in use.", [({}, mem)]
        )
        w.family(
            "factory_analytics_host_disk_used_bytes",
            "gauge",
            "Used bytes of the data volume's filesystem.",
            [({}, disk)],
        )
    containers = conn.execute(
        "SELECT name, cpu_pct, memory_bytes FROM container_samples WHERE ts ="
        " (SELECT max(ts) FROM container_samples) ORDER BY name"
    ).fetchall()
    w.family(
        "factory_analytics_container_cpu_ratio",
        "gauge",
        "Container CPU, 1 = one core.",
        [({"container": n}, c / 100) for n, c, _ in containers if c is not None],
    )
    w.family(
        "factory_analytics_container_memory_bytes",
        "gauge",
        "Container memory in use.",
        [({"container": n}, m) for n, _, m in containers if m is not None],
    )
    return "\n".join(w.lines) + "\n"
