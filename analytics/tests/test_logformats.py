"""Parsers on recorded-looking samples of every format, including the lines that break."""

from __future__ import annotations

from pathlib import Path

import pytest
from factory_analytics.logformats import (
    IGNORED,
    AccessRecord,
    Unparseable,
    parse_line,
)
from factory_analytics.timeutil import parse_iso

FIXTURES = Path(__file__).parent / "fixtures"


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


def test_nginx_combined_with_request_time_and_login() -> None:
    rec = parse_line(lines("nginx_combined.log")[0])
    assert rec == AccessRecord(
        ts=parse_iso("2026-11-25T10:18:16Z"),
        method="GET",
        path="/dashboard/complete",
        status=200,
        duration_ms=27412.0,
        bytes=48213,
        client="100.101.102.103",
        login="ana@example.com",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
    )


def test_combined_time_zone_offset_and_missing_login() -> None:
    rec = parse_line(lines("nginx_combined.log")[1])
    assert isinstance(rec, AccessRecord)
    assert rec.ts == parse_iso("2026-11-25T10:18:17Z")  # +0100 converted to UTC
    assert rec.login is None
    assert rec.duration_ms == 4.0


def test_ipv6_client_and_nginx_escaped_utf8_login() -> None:
    rec = parse_line(lines("nginx_combined.log")[2])
    assert isinstance(rec, AccessRecord)
    assert rec.client == "fd7a:115c:a1e0::5"
    assert rec.login == "josé@example.com"


def test_escaped_quotes_in_user_agent_still_parse() -> None:
    rec = parse_line(lines("nginx_combined.log")[3])
    assert isinstance(rec, AccessRecord)
    assert (rec.method, rec.path, rec.status, rec.duration_ms) == (
        "POST",
        "/chat/ask",
        500,
        12998.0,
    )


def test_tls_handshake_on_http_port_is_a_bad_request_not_a_crash() -> None:
    rec = parse_line(lines("nginx_combined.log")[4])
    assert isinstance(rec, AccessRecord)
    assert (rec.method, rec.path, rec.status) == ("-", "(bad request)", 400)


def test_plain_combined_without_extras_and_key_value_extras() -> None:
    plain = parse_line(lines("nginx_combined.log")[5])
    assert isinstance(plain, AccessRecord)
    assert (plain.status, plain.duration_ms, plain.login) == (404, None, None)
    keyed = parse_line(lines("nginx_combined.log")[6])
    assert isinstance(keyed, AccessRecord)
    assert (keyed.duration_ms, keyed.login) == (250.0, "ana@example.com")


@pytest.mark.parametrize(
    ("index", "reason"),
    [(7, "not a combined"), (8, "bad time"), (9, "not a combined")],
)
def test_malformed_combined_lines_are_unparseable_with_a_reason(index: int, reason: str) -> None:
    result = parse_line(lines("nginx_combined.log")[index])
    assert isinstance(result, Unparseable)
    assert reason in result.reason


def test_uvicorn_default_access_lines() -> None:
    parsed = [parse_line(line) for line in lines("uvicorn.log")]
    assert parsed[:4] == [IGNORED] * 4  # startup banner
    first = parsed[4]
    assert first == AccessRecord(
        None, "GET", "/dashboard/complete", 200, None, None, "100.64.0.5", None
    )
    assert parsed[5].client == "::1"  # IPv6 printed without brackets
    assert (parsed[6].status, parsed[6].path.split("?")[0]) == (422, "/optimize/production/daily")
    assert (parsed[7].client, parsed[7].path) == ("172.18.0.4", "/insights/alerts")  # colours
    assert (parsed[8].client, parsed[8].status) == ("fd7a:115c:a1e0::7", 404)
    assert parsed[9] == IGNORED  # a WARNING that is not an access line
    assert isinstance(parsed[10], Unparseable)  # traceback
    assert isinstance(parsed[11], Unparseable)
    assert isinstance(parsed[12], Unparseable)
    assert parsed[12].reason == "broken uvicorn access line"


def test_caddy_json_access_log() -> None:
    rec = parse_line(lines("json.log")[0])
    assert rec == AccessRecord(
        1795601896.123,
        "GET",
        "/dashboard/summary",
        200,
        42.1,
        933,
        "100.64.0.7",
        "jose@example.com",
        "Mozilla/5.0",  # Caddy nests the headers, as lists
    )


def test_flat_json_with_non_ascii_login() -> None:
    rec = parse_line(lines("json.log")[1])
    assert isinstance(rec, AccessRecord)
    assert rec.login == "müller@example.com"
    assert rec.duration_ms == 312.4
    assert rec.ts == parse_iso("2026-11-25T10:18:17.250Z")


def test_json_app_logs_are_ignored_and_broken_json_is_unparseable() -> None:
    results = [parse_line(line) for line in lines("json.log")[2:]]
    assert results[0] == IGNORED
    assert isinstance(results[1], Unparseable)  # status not a number
    assert isinstance(results[2], Unparseable)
    assert "invalid JSON" in results[2].reason
    assert isinstance(results[3], Unparseable)  # a JSON array is not an access line


def test_forced_format_rejects_other_formats() -> None:
    combined = lines("nginx_combined.log")[0]
    assert isinstance(parse_line(combined, "uvicorn"), Unparseable)
    assert isinstance(parse_line(combined, "json"), Unparseable)
    assert isinstance(parse_line(lines("uvicorn.log")[4], "combined"), Unparseable)
