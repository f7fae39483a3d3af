"""The Tailscale provider: observe the tailnet, plan policy/devices/DNS/keys, execute exactly that.

- observe (read-only): the policy with its ETag, the devices, DNS when declared;
- plan (pure, :mod:`reconciler.providers.tailscale.planning`): typed actions with causes; for
  each sidecar, whether its node is logged in and whether its container exists are facts of
  the Docker snapshot (``DockerObserved.node_logins``, ``containers``), so this provider
  never talks to the engine (and does not import docker);
- execute (no decisions): one API call sequence per action; Tailscale errors become
  ``ApplyError`` carrying Tailscale's message, and nothing is half-applied.

Without credentials the provider plans nothing and says "skipped: no Tailscale credentials",
so the rest of the stack still reconciles; with ``credentials.required: true`` observe raises
:class:`~reconciler.providers.tailscale.credentials.MissingCredentials` instead (plan and apply stop
before anything is changed, naming the variables and the line of tailnet.yaml).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from factory_common.tailscale.api import (
    TailscaleClient,
    TailscaleCredentials,
    TailscaleError,
    TailscalePreconditionFailed,
)

from reconciler.actions import Action
from reconciler.errors import ApplyError, ObservationError
from reconciler.providers import ExecContext, PlanContext, Planned, ProviderSetup, SecretValues
from reconciler.providers.tailscale import payloads as ts
from reconciler.providers.tailscale.credentials import MissingCredentials, resolve_credentials
from reconciler.providers.tailscale.desired import DesiredPolicy, SidecarNode, TailnetSettings
from reconciler.providers.tailscale.planning import (
    NO_CREDENTIALS,
    TailnetObserved,
    desired_items,
    plan_tailnet,
    with_sidecar_facts,
)
from reconciler.providers.tailscale.policy import marked_text
from reconciler.resources import DesiredState

__all__ = ["NO_CREDENTIALS", "TailscaleProvider", "build_provider", "resolve_credentials"]

ClientFactory = Callable[[TailnetSettings, TailscaleCredentials], TailscaleClient]


def _default_client(
    settings: TailnetSettings, credentials: TailscaleCredentials
) -> TailscaleClient:
    return TailscaleClient(credentials, tailnet=settings.tailnet, base_url=settings.api_url)


@dataclass
class TailscaleProvider:
    """Implements reconciler.providers.base.Provider for the tailnet."""

    project: str
    secrets: SecretValues
    client_factory: ClientFactory = _default_client
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    name: str = "tailscale"
    _client: TailscaleClient | None = None

    def close(self) -> None:
        """Close the API client's connections (the engine may call it after apply)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- observe --------------------------------------------------------------------------
    def _client_for(self, settings: TailnetSettings) -> TailscaleClient | None:
        if self._client is None:
            credentials = resolve_credentials(settings, self.secrets)
            if credentials is None:
                return None
            self._client = self.client_factory(settings, credentials)
        return self._client

    def observe(self, desired: DesiredState) -> TailnetObserved:
        settings, policy, _nodes = desired_items(desired)
        if settings is None:
            return TailnetObserved(declared=False, now=self.now())
        client = self._client_for(settings)
        if client is None and settings.required:
            raise MissingCredentials(settings, self.secrets)
        if client is None:
            return TailnetObserved(declared=True, credentials=False, now=self.now())
        try:
            observed_policy = client.get_policy() if policy is not None else None
            devices = client.list_devices()
            dns = None
            if settings.nameservers is not None or settings.magic_dns is not None:
                dns = client.get_nameservers()
            search_paths = client.get_search_paths() if settings.search_paths is not None else None
        except TailscaleError as exc:
            raise ObservationError(f"tailscale: cannot read the tailnet: {exc}") from None
        return TailnetObserved(
            declared=True,
            credentials=True,
            policy=observed_policy,
            devices=devices,
            nameservers=tuple(dns.dns) if dns is not None else None,
            magic_dns=dns.magic_dns if dns is not None else None,
            search_paths=tuple(search_paths) if search_paths is not None else None,
            now=self.now(),
        )

    # -- plan -----------------------------------------------------------------------------
    def plan(self, observed: TailnetObserved, ctx: PlanContext) -> Planned:
        observed = with_sidecar_facts(observed, ctx.desired, ctx.observed.get("docker"))
        return Planned(*plan_tailnet(ctx.desired, observed))

    # -- execute ----------------------------------------------------------------------------
    def execute(self, action: Action, ctx: ExecContext) -> None:
        settings, policy, nodes = desired_items(ctx.desired)
        client = self._client_for(settings) if settings is not None else None
        if client is None:
            raise ApplyError(action.id, NO_CREDENTIALS)
        try:
            self._dispatch(client, action, ctx, policy, nodes)
        except TailscalePreconditionFailed:
            raise ApplyError(
                action.id,
                "the tailnet policy was edited in the admin console after this plan was made "
                "(its ETag changed); nothing was overwritten",
                tuple(ctx.completed),
                (
                    "run `gitops plan` again to see the console edit, copy it into "
                    "gitops/tailscale/policy.hujson if it should stay, then apply",
                ),
            ) from None
        except TailscaleError as exc:
            message = getattr(exc, "message", str(exc))
            raise ApplyError(action.id, f"Tailscale API: {message}", tuple(ctx.completed)) from None

    def _dispatch(
        self,
        client: TailscaleClient,
        action: Action,
        ctx: ExecContext,
        policy: DesiredPolicy | None,
        nodes: list[SidecarNode],
    ) -> None:
        match action.payload:
            case ts.SetPolicy() as payload:
                assert policy is not None  # planned only when one is declared
                self._set_policy(client, action, payload, policy, ctx)
            case ts.SetDeviceTags(node_id=node_id, tags=tags):
                client.set_device_tags(node_id, list(tags))
            case ts.DeleteDevice(node_id=node_id):
                client.delete_device(node_id)
            case ts.SetDnsNameservers(nameservers=nameservers):
                client.set_nameservers(list(nameservers))
            case ts.SetDnsPreferences(magic_dns=magic_dns):
                client.set_dns_preferences(magic_dns=magic_dns)
            case ts.SetDnsSearchPaths(search_paths=search_paths):
                client.set_search_paths(list(search_paths))
            case ts.MintAuthKey(container=container):
                self._mint_auth_key(client, next(n for n in nodes if n.container == container), ctx)
            case _:  # pragma: no cover - plan and execute are written together
                raise ApplyError(action.id, f"unknown tailscale verb {action.verb!r}")

    def _set_policy(
        self,
        client: TailscaleClient,
        action: Action,
        payload: ts.SetPolicy,
        policy: DesiredPolicy,
        ctx: ExecContext,
    ) -> None:
        """Validate (and run the policy's tests) first; write only over the observed ETag."""
        ctx.progress("validating the policy and running its tests through the API")
        verdict = client.validate_policy(policy.text)
        if not verdict.ok:
            raise ApplyError(
                action.id,
                f"the tailnet refused {policy.origin}: {verdict.message}",
                tuple(ctx.completed),
                tuple(verdict.describe().splitlines()[1:]),
            )
        client.set_policy(marked_text(policy), if_match=payload.etag)

    def _mint_auth_key(self, client: TailscaleClient, node: SidecarNode, ctx: ExecContext) -> None:
        """A single-use key, kept in memory only, for the sidecar's create to deliver."""
        key = client.create_auth_key(
            tags=list(node.tags),
            reusable=False,
            ephemeral=False,
            preauthorized=True,
            expiry_seconds=node.key_expiry_seconds,
            description=f"gitops {self.project} {node.hostname}"[:50],
        )
        ctx.secrets.put(node.secret, key.key.get_secret_value(), persist=False)


def build_provider(setup: ProviderSetup) -> TailscaleProvider:
    """The factory listed in `reconciler.builtin.PROVIDERS`; tests inject the API client
    factory through `options`."""
    factory = setup.options.get("tailscale_client_factory") or _default_client
    return TailscaleProvider(
        project=setup.stack.project,
        secrets=setup.secrets,
        client_factory=factory,  # type: ignore[arg-type]
    )
