"""Compact, portable tool schemas, and the lint that keeps them portable.

Why: `tools/list` is paid for in context on every conversation. Pydantic's schemas repeat a
`title` on every property and spell `X | None` as an `anyOf`; neither helps a model. Compaction
drops those titles and writes nullable scalars as a type list (`["number", "null"]`), which
validates exactly the same. The lint enforces what clients need: a top-level `type: object`
(Claude Code silently drops every tool of a server when one has a top-level `anyOf`).
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import MCPServer

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


# Keywords that constrain only one instance type: next to a `null` alternative they leave null
# valid, so `anyOf: [{type: number, minimum: 0}, {type: null}]` is `type: [number, null],
# minimum: 0` exactly.
_SCALAR_KEYWORDS = frozenset(
    {
        "type",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "minLength",
        "maxLength",
    }
)


def compact(schema: Any, *, parent: str = "", output: bool = False) -> Any:
    """A copy of a JSON schema without cosmetic titles and with compact nullable types.

    A `default: null` goes too: an optional nullable parameter is null when omitted, so it
    only repeats what the schema already says. For output schemas (`output=True`) the
    `required` lists and every default go: every field of a result model is always present
    (nullable ones as null), so they only repeat names.
    """
    if isinstance(schema, list):
        return [compact(item, output=output) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if parent in _SCHEMA_MAPS:
        return {key: compact(value, output=output) for key, value in schema.items()}
    dropped = {"required", "default"} if output else set()
    out = {
        key: compact(value, parent=key, output=output)
        for key, value in schema.items()
        if not (key == "title" and isinstance(value, str))
        and key not in dropped
        and not (key == "default" and value is None)
    }
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        if set(other) <= _SCALAR_KEYWORDS and isinstance(other.get("type"), str):
            del out["anyOf"]
            out.update(other)
            out["type"] = [other["type"], "null"]
    return out


def compact_tools(server: MCPServer) -> None:
    """Rewrite every registered tool's input and output schema in compact form."""
    # The SDK exposes no public hook for schema generation; the tool objects are plain
    # pydantic models whose schema dicts we replace (validation uses the models, not these).
    for tool in server._tool_manager.list_tools():
        tool.parameters = compact(tool.parameters)
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = compact(tool.fn_metadata.output_schema, output=True)
        tool.__dict__.pop("output_schema", None)


def lint(tool: dict[str, Any]) -> list[str]:
    """Portability problems of one tool as listed on the wire (empty when fine)."""
    problems = []
    name = tool.get("name", "?")
    for key in ("inputSchema", "outputSchema"):
        schema = tool.get(key)
        if schema is None:
            continue
        if schema.get("type") != "object":
            problems.append(f"{name}.{key}: top-level type must be 'object'")
        for combinator in ("anyOf", "oneOf", "allOf", "not"):
            if combinator in schema:
                problems.append(f"{name}.{key}: top-level {combinator} is not portable")
    for prop, spec in (tool.get("inputSchema", {}).get("properties") or {}).items():
        if not spec.get("description"):
            problems.append(f"{name}: parameter {prop} has no description")
    if not tool.get("description"):
        problems.append(f"{name}: no description")
    elif len(tool["description"]) > 1000:
        problems.append(f"{name}: description over 1000 characters")
    if not tool.get("outputSchema"):
        problems.append(f"{name}: no outputSchema")
    return problems


def estimate_tokens(payload: Any) -> int:
    """A conservative token estimate for compact JSON: one token per 3.5 characters.

    Calibrated once on this server's `tools/list` with the Claude tokenizer published in the
    `anthropic` 0.30 package (3.74 characters per token); no tokenizer can be downloaded in CI,
    so the estimate errs on the high side instead.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return int(len(text) / 3.5) + 1
