"""The SDK floor for bench/mcp_bench.py: the official `mcp` SDK's MCPServer with one tool doing
the same GET as factory-mcp's `get_current_price`, over the same transport (streamable HTTP,
a session, JSON answers), and nothing else: no auth, access log, validation or output model.

What factory-mcp adds over this is what its own code costs; what this adds over a direct
GET is the SDK's, which no server built on it can go below.

    python bench/mcp_sdk_floor_server.py STUB_URL PORT
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import httpx
import uvicorn
from mcp.server.mcpserver import MCPServer


def main() -> None:
    stub, port = sys.argv[1], int(sys.argv[2])
    logging.disable(logging.INFO)  # factory-mcp runs the bench at WARNING too
    server = MCPServer("sdk-floor")
    upstream = httpx.AsyncClient(base_url=stub)

    @server.tool()
    async def get_current_price() -> dict[str, Any]:
        """The latest price, as the factory API returns it."""
        answer = await upstream.get("/ree/prices/latest")
        answer.raise_for_status()
        return answer.json()

    app = server.streamable_http_app(json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
