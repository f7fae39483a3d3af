"""Assembles the MCP server: tools, resource, prompts, in a deterministic order.

Why a function, not a module-level server: tests, the bench and the CLI each build one with
their own Deps (stand-in transports, a fixed clock, real clients) and nothing talks to the
network at import time.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from factory_mcp import __version__, guide, schema
from factory_mcp.config import ConfigError
from factory_mcp.deps import Deps
from factory_mcp.runner import ToolRunner
from factory_mcp.tools import analytics, conditions, history, prices, production, system, windows

INSTRUCTIONS = (
    "Read-only access to the Chocolate Factory (Linares, Spain): electricity prices and "
    "forecasts with 2.0TD tariff periods, production planning, weather, alerts, system health, "
    "and usage analytics. Times are Europe/Madrid with explicit offsets; prices are €/kWh. "
    "Start with the summary field of each result. If a price is stale, say so. Savings are "
    "theoretical. Reference: factory://reference/tariff-and-units."
)


def build_server(deps: Deps) -> MCPServer:
    server = MCPServer(
        name="factory-mcp",
        title="Chocolate Factory",
        version=__version__,
        instructions=INSTRUCTIONS,
    )
    runner = ToolRunner(deps.settings.tool_deadline_s)
    for module in (prices, history, windows, production, conditions, system, analytics):
        module.register(server, deps, runner)
    guide.register(server, deps.now)
    _keep_only(server, deps.settings.tools)
    schema.compact_tools(server)
    return server


def _keep_only(server: MCPServer, wanted: tuple[str, ...]) -> None:
    """FACTORY_MCP_TOOLS: expose only the named tools (less context); unknown names fail."""
    if not wanted:
        return
    known = [tool.name for tool in server._tool_manager.list_tools()]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigError(
            f"FACTORY_MCP_TOOLS names unknown tools: {', '.join(unknown)}; "
            f"choose from {', '.join(known)}"
        )
    for name in known:
        if name not in wanted:
            server.remove_tool(name)
