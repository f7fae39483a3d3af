"""Context-budgeted results: summaries first, raw rows capped, a cursor to page on.

Why: a model's context is the scarce resource (a 25k-token result is truncated by Claude Code
and users lose work). Every tool result is kept under `MAX_RESULT_CHARS` on the wire: the
structured content and its JSON text copy together. Rows beyond what fits are left for the
next page, and the result says so (`truncated`, `next_cursor`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

MAX_RESULT_CHARS = 20_000
# The structured content travels twice (structuredContent and a JSON text block whose quotes
# are escaped), plus the JSON-RPC envelope; this budget for one compact copy keeps the whole
# response under MAX_RESULT_CHARS (tests/test_limits.py proves it on the worst cases).
JSON_BUDGET_CHARS = 8_500

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def fingerprint(*parts: Any) -> str:
    """A short digest of the query a cursor belongs to, so it cannot be replayed elsewhere."""
    raw = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def encode_cursor(offset: int, query: str) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{query}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, query: str) -> int:
    """The row offset a cursor points at; 0 without a cursor. A foreign cursor is an error."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset_text, _, owner = base64.urlsafe_b64decode(padded).decode().partition(":")
        offset = int(offset_text)
    except (ValueError, UnicodeDecodeError):
        raise ToolError(
            "The cursor is not valid. Pass next_cursor exactly as the previous result gave it, "
            "or omit cursor to start from the first row."
        ) from None
    if owner != query or offset < 0:
        raise ToolError(
            "This cursor belongs to a different query. Repeat the same arguments as the call "
            "that returned it, or omit cursor to start again."
        )
    return offset


def json_size(model: BaseModel) -> int:
    return len(model.model_dump_json(by_alias=True))


def fit_page(
    rows: Sequence[Any],
    offset: int,
    limit: int,
    query: str,
    build: Callable[[list[Any], str | None], M],
) -> M:
    """Build the result with as many rows from `offset` as fit `limit` and the char budget."""
    count = max(0, min(limit, len(rows) - offset))
    while True:
        end = offset + count
        next_cursor = encode_cursor(end, query) if end < len(rows) else None
        model = build(list(rows[offset:end]), next_cursor)
        if json_size(model) <= JSON_BUDGET_CHARS or count == 0:
            return model
        count = _fewer(count)


def fit_items(items: Sequence[T], build: Callable[[list[T], int], M]) -> M:
    """Build the result with as many leading `items` as fit the char budget.

    For lists that are ranked (most important first) rather than paged: `build` gets the items
    kept and how many were left out, so the result can say so (`omitted`) and how to narrow.
    """
    count = len(items)
    while True:
        model = build(list(items[:count]), len(items) - count)
        if json_size(model) <= JSON_BUDGET_CHARS or count == 0:
            return model
        count = _fewer(count)


def _fewer(count: int) -> int:
    """Shrink a row count quickly while it is large, one by one near the end."""
    return count * 3 // 4 if count > 4 else count - 1
