"""`factory-mcp`: run the server on stdio (default) or streamable HTTP.

Configuration comes from the environment (see README); flags choose the transport. A bad
setting stops the process with one line on stderr naming the variable, exit code 2. On stdio,
stdout carries only the protocol: logs go to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
import os
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer

from factory_mcp import __version__, logs
from factory_mcp.config import ConfigError, load_settings
from factory_mcp.deps import Deps, build_deps
from factory_mcp.http_app import build_http_app
from factory_mcp.server import build_server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="factory-mcp", description="MCP server for the Chocolate Factory."
    )
    parser.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio for Claude Desktop (default), http for a deployed server",
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port")
    parser.add_argument(
        "--stateless",
        action="store_true",
        help="no MCP sessions (for several replicas behind a load balancer)",
    )
    parser.add_argument(
        "--sse",
        action="store_true",
        help="answer each POST with an SSE stream instead of one JSON body (the tools never "
        "send mid-call messages, so JSON is the default: faster and proxy-friendly)",
    )
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--version", action="version", version=f"factory-mcp {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"factory-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    deps = build_deps(settings)
    try:
        server = build_server(deps)
        if args.transport == "http":
            app = build_http_app(
                server,
                deps,
                host=args.host,
                stateless=args.stateless,
                json_response=not args.sse,
            )
        if args.check:
            print("factory-mcp: configuration ok", file=sys.stderr)
            return 0
    except ConfigError as exc:
        print(f"factory-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.transport == "stdio":
        anyio.run(_stdio, server, deps)
        return 0
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,  # access_log.AccessLog writes the JSON access lines instead
        # The client is the TCP peer: uvicorn would otherwise take X-Forwarded-For from a
        # loopback peer (a sidecar, or anyone on the host), a spoofable header value that
        # would end up in the access log as the client's address.
        proxy_headers=False,
        lifespan="on",
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


async def _stdio(server: MCPServer, deps: Deps) -> None:
    try:
        await server.run_stdio_async()
    finally:
        await deps.aclose()


if __name__ == "__main__":
    raise SystemExit(main())
