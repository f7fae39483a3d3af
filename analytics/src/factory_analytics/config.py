"""The service's configuration: a YAML file (validated with pydantic, errors with file:line)
plus environment variables for everything secret or deployment-specific.

    ANALYTICS_CONFIG            path of the YAML file (optional; defaults below otherwise)
    ANALYTICS_DB                database path (default /data/analytics.db)
    ANALYTICS_TOKEN(_FILE)      bearer token for non-loopback, non-tailnet callers
    TAILSCALE_API_KEY(_FILE) or TAILSCALE_OAUTH_CLIENT_ID + TAILSCALE_OAUTH_CLIENT_SECRET(_FILE)
    DOCKER_HOST                 Docker engine (default: the local socket)

Secrets never live in the YAML file, so it can be committed under gitops/.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from factory_common.env_secrets import EnvSecretError, read_env_secret
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

DEFAULT_DB = "/data/analytics.db"
_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class ConfigError(ValueError):
    """The configuration file is wrong; the message has file:line and how to fix it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetentionConfig(_Model):
    raw_days: int = Field(30, ge=1, le=3650)
    rollup_days: int = Field(365, ge=1, le=3650)


class TailnetConfig(_Model):
    enabled: bool = True
    tailnet: str = "-"
    interval_seconds: int = Field(300, ge=1, le=86400)
    api_url: str = "https://api.tailscale.com/api/v2"


# Where an identity proxy may sit: loopback, the private ranges and the tailnet. A proxy on a
# public address (or a range like 0.0.0.0/0) would make a header any client sends believed.
PROXY_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    )
)


def _identity_proxy(value: str) -> str:
    """An identity proxy's address or network, inside `PROXY_RANGES`."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an address or network: {exc} (write e.g. 127.0.0.1 or ::1)"
        ) from None
    if not any(network.version == r.version and network.subnet_of(r) for r in PROXY_RANGES):  # type: ignore[arg-type]
        raise ValueError(
            f"{value} is not on a trusted network: an identity proxy must be on loopback, a"
            " private range or the tailnet (e.g. 127.0.0.1 for Tailscale Serve on this host),"
            " or any client could name itself"
        )
    return str(network)


IdentityProxy = Annotated[str, AfterValidator(_identity_proxy)]


class LogSourceConfig(_Model):
    """One access log: a container's output (Docker API) or a file."""

    name: str = Field(pattern=_NAME)
    container: str | None = None
    file: Path | None = None
    format: Literal["auto", "combined", "uvicorn", "json"] = "auto"
    routes: list[str] = Field(default_factory=list)
    poll_seconds: float = Field(5.0, ge=0.2, le=3600)
    # Clients (as this log names them: the logging server's TCP peer) whose identity header
    # (Tailscale-User-Login) is believed, e.g. Tailscale Serve proxying from loopback. Empty:
    # identity comes from the tailnet address only (identity.py; API.md, "Identity").
    identity_proxies: list[IdentityProxy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> LogSourceConfig:
        if (self.container is None) == (self.file is None):
            raise ValueError("set exactly one of `container` (Docker) or `file` (a log file)")
        for route in self.routes:
            if not route.startswith("/"):
                raise ValueError(f"route template {route!r} must start with '/'")
        return self

    @property
    def kind(self) -> str:
        return "docker" if self.container else "file"

    @property
    def target(self) -> str:
        return self.container or str(self.file)


class ProbeConfig(_Model):
    name: str = Field(pattern=_NAME)
    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "HEAD"] = "GET"
    interval_seconds: int = Field(60, ge=5, le=86400)
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    expect_status: list[int] = Field(default_factory=lambda: [200])

    def as_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "url": self.url,
            "interval_seconds": self.interval_seconds,
            "timeout_seconds": int(self.timeout_seconds),
            "expect_status": self.expect_status,
        }


class SystemConfig(_Model):
    enabled: bool = True
    interval_seconds: int = Field(60, ge=5, le=3600)
    disk_path: str = "/data"
    containers: bool = True
    # only containers carrying this label (key or key=value); all running ones when unset
    container_label: str | None = None


# one CSP source expression naming who may frame the pages: `*`, a scheme (`https:`) or an
# origin with an optional `*.` host wildcard and port (`https://*.example.ts.net`,
# `http://127.0.0.1:8000`). Nothing else, so no value can add a directive to the header.
_FRAME_SOURCE = re.compile(
    r"^(\*|[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*://)?"
    r"(?:\*\.)?(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(?:\d{1,5}|\*))?)$"
)


def _frame_source(value: str) -> str:
    if not _FRAME_SOURCE.match(value.lower()):
        raise ValueError(
            f"{value!r} is not an origin: write e.g. https://factory.example.ts.net,"
            " http://127.0.0.1:8000 or https://*.example.ts.net ('self' is always allowed)"
        )
    return value.lower()


def _split_sources(value: Any) -> Any:
    """The earlier single-string form (`"*"`, `"https://a https://b"`) is still read."""
    return value.split() if isinstance(value, str) else value


class WidgetConfig(_Model):
    """Who may frame the pages (CSP `frame-ancestors`; X-Frame-Options when none)."""

    # embedders besides this service's own origin ('self', always allowed), e.g. the
    # factory's dashboard; empty: same origin only, so no other site can frame the widget
    frame_ancestors: Annotated[
        list[Annotated[str, AfterValidator(_frame_source)]], BeforeValidator(_split_sources)
    ] = Field(default_factory=list)


# a Host name the API answers to: a name, `*.suffix`, an IP address, or `*` (no check)
_HOST_ENTRY = re.compile(r"^(\*|(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?)$")


def _host_entry(value: str) -> str:
    text = value.strip().lower()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    if not _HOST_ENTRY.match(text):
        raise ValueError(
            f"{value!r} is not a host name: write a name (analytics), a suffix pattern"
            " (*.example.ts.net) or an IP address, without scheme or port"
        )
    return text.rstrip(".")


class HttpConfig(_Model):
    """Which Host names the API answers to (DNS-rebinding protection, web/hosts.py)."""

    # besides the built-in ones (loopback names and addresses, tailnet addresses and the
    # tailnet's MagicDNS names): e.g. the name other containers use (`analytics`)
    allowed_hosts: list[Annotated[str, AfterValidator(_host_entry)]] = Field(default_factory=list)


DOCKER_GATEWAY = "docker-gateway"
# loopback and the tailnet (Tailscale's CGNAT IPv4 range and its ULA IPv6 range)
DEFAULT_TRUSTED_NETWORKS = ("127.0.0.0/8", "::1/128", "100.64.0.0/10", "fd7a:115c:a1e0::/48")


def _network(value: str) -> str:
    """A CIDR, a single address, or `docker-gateway`; host bits set is a typo, not a range."""
    if value == DOCKER_GATEWAY:
        return value
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a network: {exc} (write e.g. 172.18.0.1, 10.0.0.0/8 or"
            f" {DOCKER_GATEWAY})"
        ) from None


NetworkEntry = Annotated[str, AfterValidator(_network)]


class AuthConfig(_Model):
    """Who may read without the bearer token (API.md, Auth; web/access.py)."""

    # peers (or, behind a trusted proxy, forwarded clients) allowed without a token; replaces
    # the default list, so keep loopback and the tailnet in it when adding an entry
    trusted_networks: list[NetworkEntry] = Field(
        default_factory=lambda: list(DEFAULT_TRUSTED_NETWORKS)
    )
    # peers whose X-Forwarded-For is believed (a reverse proxy in front of analytics)
    trusted_proxies: list[NetworkEntry] = Field(default_factory=list)


class AnalyticsConfig(_Model):
    database: Path = Path(DEFAULT_DB)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    tailnet: TailnetConfig = Field(default_factory=TailnetConfig)
    logs: list[LogSourceConfig] = Field(default_factory=list)
    probes: list[ProbeConfig] = Field(default_factory=list)
    system: SystemConfig = Field(default_factory=SystemConfig)
    widget: WidgetConfig = Field(default_factory=WidgetConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> AnalyticsConfig:
        for kind, items in (("logs", self.logs), ("probes", self.probes)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{kind}: names must be unique, repeated: {', '.join(dupes)}")
        return self


def load_config(
    path: str | Path | None, environ: Mapping[str, str] | None = None
) -> AnalyticsConfig:
    """Read the YAML file (if any) and apply ANALYTICS_DB."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    source = Path(path) if path else None
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read the configuration: {exc.strerror}") from exc
        try:
            loaded = YAML(typ="rt").load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark else str(source)
            raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}:1: the configuration must be a mapping")
        data = loaded or {}
    if env.get("ANALYTICS_DB"):
        data = {**data, "database": env["ANALYTICS_DB"]}
    try:
        return AnalyticsConfig.model_validate(_plain(data))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, data, source)) from None


def read_token(environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """ANALYTICS_TOKEN, or the content of ANALYTICS_TOKEN_FILE; None when neither is set."""
    env = os.environ if environ is None else environ
    value = read_secret("ANALYTICS_TOKEN", env)
    return None if value is None else SecretStr(value)


def read_secret(name: str, environ: Mapping[str, str]) -> str | None:
    """`NAME`, or the content of the file named by `NAME_FILE`; None when neither is set.

    The shared reader (factory_common.env_secrets, one for every process of the stack): set
    but empty, both set, or an unreadable file is a ConfigError naming the variable."""
    try:
        return read_env_secret(name, environ)
    except EnvSecretError as exc:
        raise ConfigError(str(exc)) from exc


def _plain(node: Any) -> Any:
    """ruamel's commented containers → plain dicts/lists for pydantic."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _describe(exc: ValidationError, data: Any, source: Path | None) -> str:
    lines = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if not (isinstance(p, str) and re.match(r"^[a-z_]+\[", p))]
        line = _line_of(data, loc)
        where = f"{source}:{line}" if source and line else str(source or "configuration")
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        lines.append(f"{where}: {dotted}: {error['msg']}")
    return "\n".join(lines)


def _line_of(data: Any, loc: list[Any]) -> int | None:
    """1-based line of the deepest node of `loc` that ruamel knows a position for."""
    node, line = data, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                if isinstance(part, int):
                    line = lc.item(part)[0] + 1
                elif part in node:
                    line = lc.key(part)[0] + 1
            node = node[part]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line
