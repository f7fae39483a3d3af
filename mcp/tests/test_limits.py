"""Context budget: worst-case result sizes, the tools/list token estimate, schema portability."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from factory_mcp.paging import MAX_RESULT_CHARS
from factory_mcp.schema import compact, estimate_tokens, lint
from factory_mcp.server import build_server

from .conftest import make_deps, structured

pytestmark = pytest.mark.anyio

WORST_CASES = [
    (
        "get_price_history",
        {"start_date": "2026-10-01", "end_date": "2026-10-31", "include_hours": True, "limit": 200},
    ),
    ("get_price_forecast", {"hours": 168, "limit": 168}),
    ("get_production_plan", {"target_kg": 2000, "limit": 100}),
    ("get_optimal_windows", {"days": 14}),
    ("get_alerts", {}),
    ("get_system_health", {}),
    ("get_usage", {"days": 365, "top": 100}),
    ("get_tailnet_devices", {"days": 365}),
    ("get_endpoint_performance", {"days": 365, "top": 100}),
]


@pytest.mark.parametrize(("tool", "args"), WORST_CASES, ids=[c[0] for c in WORST_CASES])
async def test_worst_case_response_stays_under_the_cap(tool, args, scenario, analytics) -> None:
    analytics.users = analytics.routes = 100
    analytics.devices = 500
    scenario.alert_flood = 40  # per source: 121 alerts with long messages and actions
    async with Client(build_server(make_deps(scenario, analytics)), mode="legacy") as client:
        result = await client.call_tool(tool, args)
    out = structured(result)
    wire = result.model_dump_json(by_alias=True, exclude_none=True)
    assert len(wire) < MAX_RESULT_CHARS - 200, (tool, len(wire))  # 200: JSON-RPC envelope
    # The cap must have bitten where the data is bigger than a page, and said so.
    if "truncated" in out and tool != "get_optimal_windows":
        assert out["truncated"] is True
        assert out["next_cursor"]
    if "omitted" in out and tool in (
        "get_alerts",
        "get_tailnet_devices",
        "get_endpoint_performance",
    ):
        assert out["omitted"] > 0


async def test_tools_list_fits_the_budget_and_lints_clean(client) -> None:
    tools = [
        t.model_dump(by_alias=True, exclude_none=True, mode="json")
        for t in (await client.list_tools()).tools
    ]
    assert 10 <= len(tools) <= 14
    assert estimate_tokens({"tools": tools}) < 6000
    problems = [p for tool in tools for p in lint(tool)]
    assert problems == []
    for tool in tools:
        assert tool["annotations"]["readOnlyHint"] is True
        assert tool["annotations"]["idempotentHint"] is True
        assert tool["annotations"]["destructiveHint"] is False
        assert "Example" in tool["description"]


async def test_lint_catches_a_top_level_anyof() -> None:
    bad = {
        "name": "x",
        "description": "d",
        "outputSchema": {"type": "object"},
        "inputSchema": {"anyOf": [{"type": "object"}, {"type": "null"}]},
    }
    assert any("anyOf" in p for p in lint(bad))
    assert any("type must be 'object'" in p for p in lint(bad))


def test_compaction_keeps_what_a_schema_accepts() -> None:
    from jsonschema import Draft202012Validator

    nullable = {
        "anyOf": [{"type": "number", "minimum": -1, "maximum": 5}, {"type": "null"}],
        "default": None,
        "description": "Price, €/kWh",
        "title": "Price",
    }
    assert compact(nullable) == {
        "type": ["number", "null"],
        "minimum": -1,
        "maximum": 5,
        "description": "Price, €/kWh",
    }
    pattern = {"anyOf": [{"type": "string", "pattern": "^\\d{4}$"}, {"type": "null"}]}
    for before in (nullable, pattern):
        after = compact(before)
        for value in (None, 0.5, -2, 7, "2026", "x", True, [1]):
            assert Draft202012Validator(before).is_valid(value) == Draft202012Validator(
                after
            ).is_valid(value), (before, value)
    # A non-null default is information (what an omitted parameter means): it stays.
    assert compact({"type": "integer", "default": 24})["default"] == 24


async def test_resource_and_prompts_are_described(client) -> None:
    resources = await client.list_resources()
    assert len(resources.resources) == 1
    assert resources.resources[0].description
    text = (await client.read_resource(str(resources.resources[0].uri))).contents[0].text
    assert "P3" in text
    assert "Good Friday" in text
    assert "+01:00" in text
    prompts = (await client.list_prompts()).prompts
    assert {p.name for p in prompts} == {"daily_production_briefing", "weekly_energy_plan"}
    assert all(p.description for p in prompts)
    got = await client.get_prompt("daily_production_briefing", {"date": "2026-11-26"})
    assert "get_production_plan" in got.messages[0].content.text


async def test_tool_order_is_deterministic(scenario, analytics) -> None:
    listings = []
    for _ in range(2):
        async with Client(build_server(make_deps(scenario, analytics))) as client:
            tools = (await client.list_tools()).tools
            listings.append(json.dumps([t.model_dump(mode="json") for t in tools]))
    assert listings[0] == listings[1]
    assert len(json.loads(listings[0])) == 13


async def test_prompt_arguments_complete(client) -> None:
    from mcp.types import PromptReference

    ref = PromptReference(type="ref/prompt", name="daily_production_briefing")
    dates = (await client.complete(ref, {"name": "date", "value": "2026-11-2"})).completion
    assert dates.values[0] == "2026-11-26"  # tomorrow in Madrid, by the stand-in's clock
    assert all(v.startswith("2026-11-2") for v in dates.values)
    weekly = PromptReference(type="ref/prompt", name="weekly_energy_plan")
    days = (await client.complete(weekly, {"name": "days", "value": "1"})).completion
    assert days.values == ["1", "10", "11", "12", "13", "14"]
