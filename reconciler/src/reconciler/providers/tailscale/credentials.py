"""Which Tailscale credential the provider uses, and the error when a required one is missing.

Either credential will do: the API key when its secret has a value, else the OAuth client when
both halves do. That "either" cannot be said with one required secret each, so the secrets are
declared optional (kind.py) and `credentials.required: true` is checked here, when plan
observes the tailnet: `gitops validate` never resolves secrets, so it cannot be checked there.
"""

from __future__ import annotations

from factory_common.tailscale.api import ApiToken, OAuthClient, TailscaleCredentials
from pydantic import SecretStr

from reconciler.errors import GitopsError, MissingSecret, SecretsError
from reconciler.providers import SecretValues
from reconciler.providers.tailscale.desired import TailnetSettings
from reconciler.secrets import env_name

__all__ = ["MissingCredentials", "resolve_credentials"]


def resolve_credentials(
    settings: TailnetSettings, secrets: SecretValues
) -> TailscaleCredentials | None:
    """API key if its secret has a value, else the OAuth client if both halves do."""
    if settings.api_key_secret:
        token = secrets.get(settings.api_key_secret)
        if token:
            return ApiToken(token=SecretStr(token))
    if settings.oauth_client_id_secret and settings.oauth_client_secret_secret:
        client_id = secrets.get(settings.oauth_client_id_secret)
        client_secret = secrets.get(settings.oauth_client_secret_secret)
        if client_id and client_secret:
            return OAuthClient(client_id=client_id, client_secret=SecretStr(client_secret))
    return None


def _variable(name: str, secrets: SecretValues) -> str:
    state = "set" if secrets.get(name) else "not set"
    return f"{env_name(name)} ({state})"


class MissingCredentials(SecretsError):
    """`credentials.required: true` and neither credential has a value.

    A SecretsError, so the CLI reports it with the other missing secrets; the message names
    every variable (and whether it is set), where `required` is declared, and how to fix it."""

    def __init__(self, settings: TailnetSettings, secrets: SecretValues) -> None:
        where = settings.credentials_source or settings.source
        options: list[str] = []
        names: list[str] = []
        if settings.api_key_secret:
            names.append(settings.api_key_secret)
            options.append(
                f"{_variable(settings.api_key_secret, secrets)}: an API access token (tskey-api-…)"
            )
        if settings.oauth_client_id_secret and settings.oauth_client_secret_secret:
            names += [settings.oauth_client_id_secret, settings.oauth_client_secret_secret]
            options.append(
                f"{_variable(settings.oauth_client_id_secret, secrets)} and "
                f"{_variable(settings.oauth_client_secret_secret, secrets)}: an OAuth client"
            )
        lines = [
            f"Tailscale credentials are required ({where}: credentials.required: true) but "
            "none is usable; set " + ", or ".join(options),
            "  in the environment, in the stack's .env file, or as a file named after the "
            f"secret ({', '.join(names)}) in the secrets dir; or set credentials.required: "
            "false to plan the stack without the tailnet",
        ]
        self.missing = tuple(
            MissingSecret(name=n, needed_by=(f"Tailnet/{settings.name}",), how="") for n in names
        )
        GitopsError.__init__(self, "\n".join(lines))
