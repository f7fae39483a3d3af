"""Analytics tools against the stand-in of analytics/API.md v1."""

from __future__ import annotations

import pytest

from .conftest import error_text, structured

pytestmark = pytest.mark.anyio


async def test_usage_summarises_who_used_the_system(client, analytics) -> None:
    out = structured(await client.call_tool("get_usage", {"days": 2}))
    assert out["window"]["days"] == 2
    assert out["window"]["start"] == "2026-11-24T01:00:00+01:00"  # 00:00Z with its offset
    assert out["per_user"][0]["user"] == "user000@example.com"
    assert "3 users" in out["summary"]
    sent = analytics.requests[-1]
    assert sent["query"] == {"days": "2", "top": "10"}
    assert sent["auth"] is True


async def test_usage_defaults_to_seven_days(client, analytics) -> None:
    structured(await client.call_tool("get_usage", {}))
    assert analytics.requests[-1]["query"]["days"] == "7"


async def test_days_and_hours_together_are_refused(client, analytics) -> None:
    text = error_text(await client.call_tool("get_usage", {"days": 1, "hours": 3}))
    assert "either days or hours" in text
    assert analytics.requests == []


async def test_devices_list_offline_ones_first_in_summary(client, analytics) -> None:
    out = structured(await client.call_tool("get_tailnet_devices", {}))
    assert out["online"] == 2
    assert "offline: host-000, host-003" in out["summary"]
    out = structured(await client.call_tool("get_tailnet_devices", {"online_only": True}))
    assert all(d["online"] for d in out["devices"])
    analytics.poll_error = "tailscale API 401"
    out = structured(await client.call_tool("get_tailnet_devices", {}))
    assert "last tailnet poll failed" in out["summary"]


async def test_endpoint_performance_names_the_slow_route_and_failing_probe(client) -> None:
    out = structured(await client.call_tool("get_endpoint_performance", {"hours": 24}))
    assert out["window"]["hours"] == 24
    assert "slowest p95: GET /dashboard/complete 24100.0 ms" in out["summary"]
    assert "failing probes: dashboard-complete" in out["summary"]
    assert out["probes"][0]["last_error"] == "timeout after 45 s"


async def test_wrong_analytics_token_is_explained(make_client) -> None:
    async with make_client({"ANALYTICS_TOKEN": "nope"}) as client:
        text = error_text(await client.call_tool("get_usage", {}))
    assert "401" in text
    assert "wrong bearer token" in text
    assert "nope" not in text


async def test_analytics_not_configured_says_which_setting(make_client) -> None:
    async with make_client({"ANALYTICS_URL": ""}) as client:
        text = error_text(await client.call_tool("get_usage", {}))
    assert "ANALYTICS_URL" in text
