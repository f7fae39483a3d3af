"""`factory-analytics`: serve the API with its collectors, migrate the database, check a
configuration, or run every collector once.

Exit codes: 0 ok, 1 error (with a message saying what to fix), 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from factory_analytics import __version__
from factory_analytics.config import ConfigError, load_config, read_token
from factory_analytics.store.db import DatabaseError, open_database

DEFAULT_CONFIG = "/etc/factory-analytics/config.yaml"


def _default_config() -> str | None:
    """The conventional mount point, so a deployment only has to mount the file."""
    return DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factory-analytics", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--config",
        default=os.environ.get("ANALYTICS_CONFIG") or _default_config(),
        help=f"YAML configuration file (default: $ANALYTICS_CONFIG, else {DEFAULT_CONFIG} if it"
        " exists, else built-in defaults)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the collectors and serve the API and /widget")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    sub.add_parser("migrate", help="create or upgrade the database schema, then exit")
    sub.add_parser("check", help="validate the configuration and print it")
    sub.add_parser("collect", help="run every collector once, then exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # one line per Tailscale poll and probe is noise; failures are logged by the service
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        if args.command == "check":
            print(config.model_dump_json(indent=2))
            return 0
        if args.command == "migrate":
            open_database(config.database).close()
            print(f"{config.database}: schema up to date")
            return 0
        from factory_analytics.service import Service

        if args.command == "collect":
            service = Service(config)
            service.run_once()
            service.stop()
            return 0
        return _serve(config, args.host, args.port, args.log_level)
    except (ConfigError, DatabaseError) as exc:
        print(f"factory-analytics: {exc}", file=sys.stderr)
        return 1


def _serve(config, host: str, port: int, log_level: str) -> int:  # type: ignore[no-untyped-def]
    import uvicorn

    from factory_analytics.service import Service
    from factory_analytics.web.access import AccessPolicy, exposure_warning
    from factory_analytics.web.app import create_app

    token = read_token()
    policy = AccessPolicy.from_config(config.auth)  # before any thread starts: errors exit 1
    app = create_app(config, token, access=policy)
    web_log = logging.getLogger("factory_analytics.web")
    web_log.info("access: %s", policy.describe())
    exposed = exposure_warning(host, token is not None, policy)
    if exposed:
        web_log.warning(exposed)
    service = Service(config)
    # uvicorn shuts down on SIGTERM/SIGINT and then re-raises the signal to the handler that
    # was installed before it ran: a no-op here, so the collectors are stopped cleanly below
    # and `docker stop` ends with exit code 0 instead of a kill.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    service.start()
    try:
        # uvicorn's proxy headers off: web/access.py alone decides which address is the
        # client, believing X-Forwarded-For only from auth.trusted_proxies
        uvicorn.run(
            app, host=host, port=port, log_level=log_level, proxy_headers=False, access_log=False
        )
    finally:
        service.stop()
    return 0
