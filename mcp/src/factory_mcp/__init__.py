"""factory_mcp: the Chocolate Factory's MCP server.

Claude asks; this server answers from the factory's HTTP API and the analytics service, adding
what the API does not give: correct 2.0TD tariff periods, explicit UTC offsets, stale-data
flags, actionable errors and results sized for a model's context.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
