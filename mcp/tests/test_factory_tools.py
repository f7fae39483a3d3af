"""Factory tools through a real MCP client, in both protocol eras, against the stand-in API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import anyio
import pytest

from .conftest import error_text, structured

pytestmark = pytest.mark.anyio


async def test_current_price_is_labelled_with_period_and_offset(client, scenario) -> None:
    out = structured(await client.call_tool("get_current_price", {}))
    assert out["hour_start"] == "2026-11-25T11:00:00+01:00"
    assert out["is_current_hour"] is True
    assert out["stale"] is False
    assert out["tariff_period"] == "P1"  # Wednesday 11:00 Madrid
    assert out["age_minutes"] == 20


async def test_stale_price_is_flagged_with_its_age_never_as_current(client, scenario) -> None:
    scenario.latest_lag_hours = 5
    out = structured(await client.call_tool("get_current_price", {}))
    assert out["stale"] is True
    assert out["is_current_hour"] is False
    assert out["age_minutes"] == 5 * 60 + 20
    assert out["summary"].startswith("STALE")
    assert "not treat it as the current price" in out["summary"]


async def test_future_dated_latest_price_is_flagged_never_current(client, scenario) -> None:
    scenario.latest_lag_hours = -2  # the factory's clock runs ahead of this server's
    out = structured(await client.call_tool("get_current_price", {}))
    assert out["future"] is True
    assert out["stale"] is True
    assert out["is_current_hour"] is False
    assert out["age_minutes"] == -100  # 12:00 UTC price at 10:20 UTC
    assert out["summary"].startswith("STALE")
    assert "100 min in the future" in out["summary"]
    assert "not treat it as the current price" in out["summary"]


async def test_weekend_hour_is_p3_although_the_factory_says_p1(client, scenario) -> None:
    scenario.now = datetime(2026, 11, 28, 10, 20, tzinfo=UTC)  # Saturday 11:20 Madrid
    out = structured(await client.call_tool("get_current_price", {}))
    assert out["tariff_period"] == "P3"
    assert out["day_kind"] == "weekend"


async def test_holiday_hour_is_p3(client, scenario) -> None:
    scenario.now = datetime(2026, 12, 8, 10, 20, tzinfo=UTC)  # Tuesday, Immaculate Conception
    out = structured(await client.call_tool("get_current_price", {}))
    assert out["tariff_period"] == "P3"
    assert out["day_kind"].startswith("holiday")


async def test_history_of_the_october_dst_day_has_25_local_hours(client, scenario) -> None:
    out = structured(
        await client.call_tool(
            "get_price_history", {"start_date": "2026-10-25", "include_hours": True, "limit": 30}
        )
    )
    assert out["hours_expected"] == 25
    assert out["hours_found"] == 25
    starts = [h["start"] for h in out["hours"]]
    assert starts[0] == "2026-10-25T00:00:00+02:00"
    assert starts[-1] == "2026-10-25T23:00:00+01:00"
    assert "2026-10-25T02:00:00+02:00" in starts
    assert "2026-10-25T02:00:00+01:00" in starts
    assert {h["tariff_period"] for h in out["hours"]} == {"P3"}  # a Sunday
    # The API cuts days at UTC midnight: the server asked for the neighbouring UTC days too.
    query = [r["query"] for r in scenario.requests if r["path"] == "/ree/prices"][-1]
    assert query == {"start_date": "2026-10-24", "end_date": "2026-10-26"}


async def test_history_of_the_march_dst_day_has_23_local_hours(client) -> None:
    out = structured(
        await client.call_tool(
            "get_price_history", {"start_date": "2026-03-30", "end_date": "2026-03-30"}
        )
    )
    assert out["hours_expected"] == 24
    out = structured(await client.call_tool("get_price_history", {"start_date": "2026-03-29"}))
    assert out["hours_expected"] == 23
    assert out["hours_found"] == 23


async def test_history_reports_missing_days_instead_of_inventing_them(client, scenario) -> None:
    scenario.missing_days = {date(2026, 11, 20)}
    out = structured(
        await client.call_tool(
            "get_price_history", {"start_date": "2026-11-19", "end_date": "2026-11-21"}
        )
    )
    day = next(d for d in out["days"] if d["date"] == "2026-11-20")
    assert day["hours_found"] == 0
    assert day["mean_eur_kwh"] is None
    assert out["hours_found"] == 48
    assert "24 hours have no stored price" in out["summary"]


async def test_history_pages_through_every_hour_once(client) -> None:
    args = {
        "start_date": "2026-10-01",
        "end_date": "2026-10-31",
        "include_hours": True,
        "limit": 200,
    }
    seen: list[str] = []
    cursor = None
    for page in range(40):
        out = structured(
            await client.call_tool(
                "get_price_history", {**args, **({"cursor": cursor} if cursor else {})}
            )
        )
        assert len(out["days"]) == (31 if page == 0 else 0)  # per-day stats on page one
        seen += [h["start"] for h in out["hours"]]
        cursor = out["next_cursor"]
        if cursor is None:
            break
        assert out["truncated"] is True
    assert len(seen) == len(set(seen)) == 31 * 24 + 1  # October has the 25-hour day


async def test_cursor_of_another_query_is_refused(client) -> None:
    out = structured(
        await client.call_tool(
            "get_price_history",
            {
                "start_date": "2026-11-01",
                "end_date": "2026-11-10",
                "include_hours": True,
                "limit": 10,
            },
        )
    )
    text = error_text(
        await client.call_tool(
            "get_price_history",
            {"start_date": "2026-11-02", "include_hours": True, "cursor": out["next_cursor"]},
        )
    )
    assert "different query" in text


async def test_history_range_limits_are_explained(client) -> None:
    text = error_text(
        await client.call_tool(
            "get_price_history", {"start_date": "2026-01-01", "end_date": "2026-03-01"}
        )
    )
    assert "maximum is 31" in text
    text = error_text(await client.call_tool("get_price_history", {"start_date": "2027-01-01"}))
    assert "get_price_forecast" in text


async def test_published_day_is_cached(client, scenario) -> None:
    for _ in range(3):
        structured(await client.call_tool("get_price_history", {"start_date": "2026-11-20"}))
    assert sum(r["path"] == "/ree/prices" for r in scenario.requests) == 1


async def test_forecast_across_the_october_change_keeps_real_offsets(client, scenario) -> None:
    scenario.now = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 00:30 CEST on the 25th
    out = structured(await client.call_tool("get_price_forecast", {"hours": 6, "limit": 6}))
    starts = [datetime.fromisoformat(h["start"]) for h in out["hours"]]
    assert out["hours"][0]["start"] == "2026-10-25T00:00:00+02:00"
    assert out["hours"][-1]["start"].endswith("+01:00")
    assert [b - a for a, b in pairwise(starts)] == [timedelta(hours=1)] * 5
    assert out["summary"].startswith("6 h forecast")
    assert out["cheapest"][0]["predicted_eur_kwh"] == out["min_eur_kwh"]
    assert any("daylight-saving" in n for n in out["notes"])


async def test_forecast_across_the_march_change_has_no_duplicate_hour(client, scenario) -> None:
    scenario.now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET, clocks go forward at 02
    out = structured(await client.call_tool("get_price_forecast", {"hours": 4, "limit": 4}))
    assert [h["start"] for h in out["hours"]] == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
        "2026-03-29T05:00:00+02:00",
    ]


async def test_forecast_without_metrics_and_with_negative_prices(client, scenario) -> None:
    scenario.forecast_metrics_empty = True  # documented: model_metrics may be {}
    scenario.forecast_shift_eur = -0.15  # Prophet is unbounded: cheap hours go below zero
    out = structured(await client.call_tool("get_price_forecast", {"hours": 24}))
    assert out["model_metrics"] == {}
    assert out["min_eur_kwh"] < 0 < out["max_eur_kwh"]
    assert out["cheapest"][0]["predicted_eur_kwh"] == out["min_eur_kwh"]
    assert any("negative" in n for n in out["notes"])
    assert len(out["hours"]) == 24


async def test_forecast_hours_out_of_range_is_rejected_before_any_call(client, scenario) -> None:
    result = await client.call_tool("get_price_forecast", {"hours": 500})
    assert result.is_error
    assert not any(r["path"].startswith("/predict") for r in scenario.requests)


async def test_optimal_windows_correct_weekend_labels(client, scenario) -> None:
    out = structured(await client.call_tool("get_optimal_windows", {"days": 5}))
    saturday = next(w for w in out["avoid"] if w["start"].startswith("2026-11-28"))
    assert saturday["factory_label"] == "P1"
    assert saturday["tariff_periods"] == ["P3"]
    assert saturday["label_corrected"] is True
    weekday = next(w for w in out["avoid"] if w["start"].startswith("2026-11-26"))
    assert weekday["label_corrected"] is False
    assert weekday["start"] == "2026-11-26T18:00:00+01:00"
    assert weekday["end"] == "2026-11-26T21:00:00+01:00"


async def test_plan_is_requested_with_query_parameters(client, scenario) -> None:
    out = structured(
        await client.call_tool("get_production_plan", {"date": "2026-11-27", "target_kg": 300})
    )
    sent = [r for r in scenario.requests if r["path"] == "/optimize/production/daily"][-1]
    assert sent["method"] == "POST"
    assert sent["query"] == {"target_date": "2026-11-27", "target_kg": "300.0"}
    assert sent["body"] is None
    assert out["batches_total"] == 30
    assert len(out["batches"]) == 20
    assert out["truncated"] is True
    assert len(out["timeline"]) == 24
    assert out["timeline"][10]["start"] == "2026-11-27T10:00:00+01:00"
    assert out["timeline"][10]["tariff_period"] == "P1"
    assert "baseline" in out["savings"]["compared_with"]


async def test_plan_batches_that_cross_midnight_end_the_next_day(client) -> None:
    # The stand-in's default 200 kg plan has batches 18:00-00:00 and 19:00-01:00.
    out = structured(await client.call_tool("get_production_plan", {"date": "2026-11-27"}))
    batches = {b["batch_id"]: b for b in out["batches"]}
    assert len(batches) == 20
    for b in batches.values():
        assert datetime.fromisoformat(b["end"]) > datetime.fromisoformat(b["start"]), b
    assert batches["B018"]["start"] == "2026-11-27T18:00:00+01:00"
    assert batches["B018"]["end"] == "2026-11-28T00:00:00+01:00"
    assert batches["B019"]["end"] == "2026-11-28T01:00:00+01:00"
    assert batches["B000"]["end"] == "2026-11-27T06:00:00+01:00"


async def test_plan_on_a_weekend_has_only_p3_hours(client) -> None:
    out = structured(await client.call_tool("get_production_plan", {"date": "2026-11-28"}))
    assert {h["tariff_period"] for h in out["timeline"]} == {"P3"}


async def test_bad_plan_date_is_a_clear_error(client) -> None:
    assert "YYYY-MM-DD" in error_text(
        await client.call_tool("get_production_plan", {"date": "2026-02-30"})
    )


async def test_upstream_422_names_the_parameter(client, scenario) -> None:
    scenario.forced["/optimize/production/daily"] = (
        422,
        {
            "detail": [
                {
                    "loc": ["query", "target_kg"],
                    "msg": "Input should be greater than 0",
                    "type": "greater_than",
                }
            ]
        },
    )
    text = error_text(await client.call_tool("get_production_plan", {"target_kg": 5}))
    assert "422" in text
    assert "target_kg: Input should be greater than 0" in text
    assert "target_kg a positive number" in text


async def test_recommendation_fills_in_current_conditions(client, scenario) -> None:
    out = structured(await client.call_tool("get_production_recommendation", {}))
    sent = [r for r in scenario.requests if r["path"] == "/predict/production-recommendation"][-1]
    assert json.loads(sent["body"]) == {
        "price_eur_kwh": 0.2086,
        "temperature": 11.4,
        "humidity": 71,
    }
    assert out["recommendation"] == "Moderate"
    assert out["inputs_from"][0].startswith("price: latest stored price for 2026-11-25T11:00")
    assert out["price_stale"] is False
    assert out["price_age_minutes"] == 20
    assert not out["summary"].startswith("STALE")


async def test_recommendation_on_a_stale_price_says_so_first(client, scenario) -> None:
    scenario.latest_lag_hours = 5
    out = structured(await client.call_tool("get_production_recommendation", {}))
    assert out["price_stale"] is True
    assert out["price_age_minutes"] == 5 * 60 + 20
    assert out["summary"].startswith("STALE PRICE")
    assert "5 h 20 min old" in out["summary"]
    given = structured(
        await client.call_tool("get_production_recommendation", {"price_eur_kwh": 0.1})
    )
    assert given["price_stale"] is None
    assert given["price_age_minutes"] is None
    assert not given["summary"].startswith("STALE")


async def test_recommendation_model_error_inside_200_is_a_tool_error(client, scenario) -> None:
    scenario.prediction_error = True
    text = error_text(
        await client.call_tool(
            "get_production_recommendation",
            {"price_eur_kwh": 0.1, "temperature_c": 20, "humidity_pct": 50},
        )
    )
    assert "Model not loaded" in text
    assert "retrain" in text


async def test_weather_from_aemet_has_fewer_fields_and_is_read_as_such(client, scenario) -> None:
    scenario.now = datetime(2026, 11, 25, 3, 20, tzinfo=UTC)  # before 08 UTC: AEMET answers
    out = structured(await client.call_tool("get_current_weather", {}))
    assert out["source"] == "aemet"
    assert out["temperature_c"] == 6.2
    assert out["humidity_pct"] == 88
    assert out["description"] is None
    assert out["stale"] is False
    assert out["observed_at"] == "2026-11-25T04:00:00+01:00"
    assert out["summary"] == "6.2 °C, 88 % humidity (aemet, 2026-11-25T04:00:00+01:00)."


async def test_weather_stamped_in_the_future_is_stale_not_fresh(client, scenario) -> None:
    scenario.now = datetime(2026, 11, 25, 10, 20, tzinfo=UTC)
    scenario.forced["/weather/current"] = (
        200,
        {"timestamp": "2026-11-25T12:00:00+00:00", "temperature": 11.0, "humidity": 70},
    )
    out = structured(await client.call_tool("get_current_weather", {}))
    assert out["age_minutes"] == -100
    assert out["stale"] is True
    assert out["summary"].startswith("STALE (timestamped 100 min in the future")


async def test_weather_error_inside_200_is_a_tool_error(client, scenario) -> None:
    scenario.weather_error = True
    text = error_text(await client.call_tool("get_current_weather", {}))
    assert "no current weather" in text


async def test_alerts_merge_three_sources_with_severity(client) -> None:
    out = structured(await client.call_tool("get_alerts", {}))
    assert out["complete"] is True
    assert [a["source"] for a in out["alerts"]] == ["predictive", "infrastructure", "current"]
    assert [a["severity"] for a in out["alerts"]] == ["high", "warning", "info"]
    out = structured(await client.call_tool("get_alerts", {"min_severity": "warning"}))
    assert len(out["alerts"]) == 2


async def test_alert_times_carry_only_offsets_the_api_documents(client) -> None:
    out = structured(await client.call_tool("get_alerts", {}))
    at = {a["source"]: a["at"] for a in out["alerts"]}
    assert at["predictive"] == "2026-11-25T19:00:00+01:00"  # Prophet: naive Madrid wall time
    assert at["infrastructure"] == "2026-11-25T08:20:00+01:00"  # UTC-aware last_seen
    # /dashboard/alerts' naive timestamp has no documented clock: no offset is invented.
    assert at["current"] is None


async def test_predictive_alerts_success_with_a_message_is_a_failure(client, scenario) -> None:
    scenario.alerts_quiet_failure = True  # status "success", empty list, a message
    out = structured(await client.call_tool("get_alerts", {}))
    assert out["complete"] is False
    [problem] = out["unavailable_sources"]
    assert problem["source"] == "predictive"
    assert "Error generando alertas" in problem["problem"]


async def test_failed_alert_source_is_reported_not_hidden(client, scenario) -> None:
    scenario.alerts_error = True
    out = structured(await client.call_tool("get_alerts", {}))
    assert out["complete"] is False
    assert out["unavailable_sources"][0]["source"] == "predictive"
    assert "INCOMPLETE" in out["summary"]


async def test_blind_tailscale_monitor_is_unavailable_not_all_clear(client, scenario) -> None:
    scenario.tailscale_proxy_down = True  # zero nodes, no alerts, status "ok"
    out = structured(await client.call_tool("get_alerts", {}))
    assert out["complete"] is False
    [problem] = out["unavailable_sources"]
    assert problem["source"] == "infrastructure"
    assert "sees no nodes" in problem["problem"]
    assert "INCOMPLETE" in out["summary"]
    assert {a["source"] for a in out["alerts"]} == {"predictive", "current"}
    health = structured(await client.call_tool("get_system_health", {}))
    assert health["overall"] == "degraded"
    assert any("Tailscale node monitoring is unavailable" in p for p in health["problems"])


async def test_infrastructure_alerts_survive_an_unreadable_node_summary(client, scenario) -> None:
    scenario.forced["/health-monitoring/summary"] = (500, {"detail": "boom"})
    out = structured(await client.call_tool("get_alerts", {}))
    assert out["complete"] is True  # the alert names an offline node: the monitor sees nodes
    assert [a["source"] for a in out["alerts"]].count("infrastructure") == 1


async def test_no_infrastructure_alerts_and_no_node_summary_is_unavailable(
    client, scenario
) -> None:
    scenario.tailscale_proxy_down = True
    scenario.forced["/health-monitoring/summary"] = (500, {"detail": "boom"})
    out = structured(await client.call_tool("get_alerts", {}))
    assert out["complete"] is False
    assert "could not be checked" in out["unavailable_sources"][0]["problem"]


async def test_savings_are_labelled_theoretical(client) -> None:
    out = structured(await client.call_tool("get_savings", {}))
    assert out["theoretical"] is True
    assert out["measured_savings_eur"] is None
    assert out["summary"].startswith("THEORETICAL")


async def test_system_health_reports_not_ready_and_stale_data(client, scenario) -> None:
    out = structured(await client.call_tool("get_system_health", {}))
    assert out["overall"] == "healthy"
    scenario.ready = False
    scenario.latest_lag_hours = 30
    scenario.model_status = "not_trained"
    out = structured(await client.call_tool("get_system_health", {}))
    assert out["overall"] == "degraded"
    assert out["ready"] is False
    problems = " ".join(out["problems"])
    assert "not ready" in problems
    assert "REE ingestion" in problems
    assert "not_trained" in problems


async def test_missing_latest_price_404_is_actionable(client, scenario) -> None:
    scenario.latest_lag_hours = 24 * 8
    text = error_text(await client.call_tool("get_current_price", {}))
    assert "404" in text
    assert "ingestion has stopped" in text


async def test_5xx_is_retried_then_explained(client, scenario) -> None:
    scenario.forced["/ree/prices/latest"] = (503, {"detail": "InfluxDB unavailable"})
    text = error_text(await client.call_tool("get_current_price", {}))
    assert "503" in text
    assert "InfluxDB unavailable" in text
    assert "tried 3 times" in text
    assert sum(r["path"] == "/ree/prices/latest" for r in scenario.requests) == 3


async def test_post_is_not_retried(client, scenario) -> None:
    scenario.forced["/optimize/production/daily"] = (500, {"detail": "boom"})
    error_text(await client.call_tool("get_production_plan", {}))
    assert sum(r["path"] == "/optimize/production/daily" for r in scenario.requests) == 1


async def test_sidecar_html_403_points_at_the_proxy(client, scenario) -> None:
    scenario.forced["/weather/current"] = (403, "<html><body>Forbidden</body></html>")
    text = error_text(await client.call_tool("get_current_weather", {}))
    assert "sidecar" in text
    assert "FACTORY_API_URL" in text


async def test_tailscale_middleware_refusal_names_the_network_not_a_token(client, scenario) -> None:
    scenario.tailscale_refusal = 403
    text = error_text(await client.call_tool("get_current_price", {}))
    assert "403" in text
    assert "Forbidden: Acceso permitido solo desde la red Tailscale" in text
    assert "Tailscale middleware refused this server's address" in text
    assert "token" not in text  # the factory API has none; a token hint would mislead
    scenario.tailscale_refusal = 401
    text = error_text(await client.call_tool("get_production_plan", {}))
    assert "401" in text
    assert "Tailscale middleware" in text
    # /health-monitoring/* is public through the /health prefix match: alerts still arrive.
    out = structured(await client.call_tool("get_alerts", {}))
    assert [p["source"] for p in out["unavailable_sources"]] == ["current", "predictive"]
    assert out["alerts"][0]["source"] == "infrastructure"


async def test_plain_text_500_is_explained_and_only_gets_retried(client, scenario) -> None:
    scenario.unhandled = {"/weather/current", "/optimize/production/daily"}
    text = error_text(await client.call_tool("get_current_weather", {}))
    assert "failed on GET http://factory.test/weather/current with 500" in text
    assert "(Internal Server Error)" in text
    assert "tried 3 times" in text
    text = error_text(await client.call_tool("get_production_plan", {}))
    assert "500 (Internal Server Error)" in text
    assert sum(r["path"] == "/optimize/production/daily" for r in scenario.requests) == 1


async def test_connection_refused_names_the_setting(make_client) -> None:
    env = {"FACTORY_API_URL": "http://127.0.0.1:19599", "FACTORY_MCP_RETRIES": "1"}
    async with make_client(env, real_network=True) as client:
        text = error_text(await client.call_tool("get_savings", {}))
    assert "Cannot reach the factory API at http://127.0.0.1:19599" in text
    assert "FACTORY_API_URL" in text
    assert "tried 2 times" in text


async def test_slow_endpoint_hits_the_deadline(make_client, scenario) -> None:
    scenario.delays["/weather/current"] = 10
    env = {
        "FACTORY_MCP_DEADLINE": "1",
        "FACTORY_MCP_REQUEST_TIMEOUT": "1",
        "FACTORY_MCP_RETRIES": "0",
    }
    async with make_client(env) as client:
        text = error_text(await client.call_tool("get_current_weather", {}))
    assert "within 1 s" in text


async def test_cancellation_aborts_the_upstream_request(client, scenario) -> None:
    scenario.delays["/weather/current"] = 30
    with anyio.move_on_after(0.5):
        await client.call_tool("get_current_weather", {})
    with anyio.fail_after(10):
        while "/weather/current" not in scenario.cancelled:
            await anyio.sleep(0.05)
