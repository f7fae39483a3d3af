"""Configuration from the environment, validated once at startup.

Why here: a bad URL or a non-numeric timeout should stop the server with one clear line that
names the variable and says how to fix it, not surface later as a confusing tool error. Secrets
(the bearer tokens) are kept in `SecretStr` so they never appear in a repr, a log or an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from factory_common.env_secrets import EnvSecretError, read_env_secret
from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_FACTORY_API_URL = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and the fix."""


class Settings(BaseModel):
    """Everything the server reads from its environment."""

    model_config = ConfigDict(frozen=True)

    factory_api_url: str = DEFAULT_FACTORY_API_URL
    analytics_url: str | None = None
    analytics_token: SecretStr | None = None
    auth_token: SecretStr | None = None
    request_timeout_s: float = Field(default=30.0, gt=0, le=45)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=30)
    tool_deadline_s: float = Field(default=45.0, gt=0, le=55)
    # Each source of a tool that merges several endpoints (alerts, system health) gets this
    # long, so one hanging endpoint is reported by name while the others still answer.
    source_deadline_s: float = Field(default=8.0, gt=0, le=45)
    retries: int = Field(default=2, ge=0, le=5)
    cache_ttl_s: float = Field(default=60.0, ge=0, le=3600)
    allowed_hosts: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    log_level: str = "INFO"


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{name}={raw!r} is not an http(s) URL; set it like {name}=http://factory-api:8000"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{name} must be a base URL without query or fragment, got {raw!r}")
    return raw.rstrip("/")


def _secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    """NAME, or the file named by NAME_FILE: the factory's one reader
    (factory_common.env_secrets), so set-but-empty is an error here as everywhere else."""
    try:
        value = read_env_secret(name, env)
    except EnvSecretError as exc:
        raise ConfigError(str(exc)) from None
    return SecretStr(value) if value is not None else None


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; use seconds, e.g. {name}=30") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw} is out of range; use a value from {low:g} to {high:g}")
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping (os.environ in production, a dict in tests)."""
    hosts = tuple(h.strip() for h in env.get("MCP_ALLOWED_HOSTS", "").split(",") if h.strip())
    tools = tuple(t.strip() for t in env.get("FACTORY_MCP_TOOLS", "").split(",") if t.strip())
    level = env.get("FACTORY_MCP_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"FACTORY_MCP_LOG_LEVEL={level!r} is not one of DEBUG, INFO, WARNING, ERROR"
        )
    request_timeout = _number(env, "FACTORY_MCP_REQUEST_TIMEOUT", 30.0, 1, 45)
    deadline = _number(env, "FACTORY_MCP_DEADLINE", 45.0, 1, 55)
    if request_timeout > deadline:
        raise ConfigError(
            f"FACTORY_MCP_REQUEST_TIMEOUT={request_timeout:g} exceeds FACTORY_MCP_DEADLINE="
            f"{deadline:g}; a single request must fit in the tool's deadline"
        )
    source_deadline = _number(env, "FACTORY_MCP_SOURCE_DEADLINE", min(8.0, deadline), 0.5, 45)
    if source_deadline > deadline:
        raise ConfigError(
            f"FACTORY_MCP_SOURCE_DEADLINE={source_deadline:g} exceeds FACTORY_MCP_DEADLINE="
            f"{deadline:g}; one source must fit in the tool's deadline"
        )
    return Settings(
        factory_api_url=_url(env, "FACTORY_API_URL", DEFAULT_FACTORY_API_URL) or "",
        analytics_url=_url(env, "ANALYTICS_URL", None),
        analytics_token=_secret(env, "ANALYTICS_TOKEN"),
        auth_token=_secret(env, "MCP_AUTH_TOKEN"),
        request_timeout_s=request_timeout,
        connect_timeout_s=_number(env, "FACTORY_MCP_CONNECT_TIMEOUT", 5.0, 0.1, 30),
        tool_deadline_s=deadline,
        source_deadline_s=source_deadline,
        retries=int(_number(env, "FACTORY_MCP_RETRIES", 2, 0, 5)),
        cache_ttl_s=_number(env, "FACTORY_MCP_CACHE_TTL", 60.0, 0, 3600),
        allowed_hosts=hosts,
        tools=tools,
        log_level=level,
    )
