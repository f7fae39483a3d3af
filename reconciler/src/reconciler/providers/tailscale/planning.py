"""Plan the tailnet: desired (compiled documents) + observed (one snapshot) → actions. Pure.

Action ids and verbs (all `provider="tailscale"`):

- `tailscale:policy` (`set-policy`): the normalised policy differs; the cause says whether
  it changed in git or was edited in the console;
- `tailscale:device:<hostname>` (`set-device-tags`): a declared node's tags differ;
- `tailscale:device-delete:<nodeId>` (`delete-device`): a duplicate or stale node, opted in
  and offline long enough;
- `tailscale:dns:nameservers|preferences|searchpaths` (`set-dns-…`): declared and different;
- `tailscale:authkey:<sidecar>` (`mint-auth-key`): a sidecar's node has no login state in
  its volume; it `provides` the key secret the Docker create (or recreate) of that sidecar
  `needs`. A key is minted only when it will be delivered: the sidecar is created anyway when
  it is missing, and an existing one is recreated by the Docker plan for a secret provided
  anew in the same plan (`PlanContext.secrets_provided`).

Everything that is only reported (duplicates and stale nodes not opted in, a sidecar that
cannot get a key without credentials) becomes a note.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from factory_common.tailscale.models import Device, PolicyFile

from reconciler.actions import Action, FieldChange, Payload
from reconciler.errors import PlanError
from reconciler.providers.tailscale import payloads as ts
from reconciler.providers.tailscale.desired import DesiredPolicy, SidecarNode, TailnetSettings
from reconciler.providers.tailscale.devices import decide_devices
from reconciler.providers.tailscale.policy import decide_policy
from reconciler.resources import DesiredState
from reconciler.source import SourceLocation

__all__ = ["NO_CREDENTIALS", "TailnetObserved", "desired_items", "plan_tailnet"]

PROVIDER = "tailscale"
NO_CREDENTIALS = "skipped: no Tailscale credentials"


@dataclass(frozen=True)
class TailnetObserved:
    """One read-only snapshot of the tailnet (plain values)."""

    declared: bool
    now: datetime
    credentials: bool = False
    policy: PolicyFile | None = None
    devices: list[Device] = field(default_factory=list)
    nameservers: tuple[str, ...] | None = None
    magic_dns: bool | None = None
    search_paths: tuple[str, ...] | None = None
    node_state: dict[str, bool] = field(default_factory=dict)  # sidecar → node logged in
    sidecars_present: frozenset[str] = frozenset()  # sidecar containers that exist


def with_sidecar_facts(
    observed: TailnetObserved, desired: DesiredState, docker: Any
) -> TailnetObserved:
    """The sidecar facts of the Docker snapshot (`docker`: a DockerObserved, or None when the
    engine was not observed): which node is logged in, which sidecar container exists."""
    _settings, _policy, nodes = desired_items(desired)
    if docker is None or not nodes:
        return observed
    names = {n.container for n in nodes}
    present = frozenset(c.resource for c in docker.containers if c.resource in names)
    logins = {n: docker.node_logins[n] for n in sorted(names) if n in docker.node_logins}
    return dataclasses.replace(observed, node_state=logins, sidecars_present=present)


def desired_items(
    desired: DesiredState,
) -> tuple[TailnetSettings | None, DesiredPolicy | None, list[SidecarNode]]:
    """The tailnet's compiled items from DesiredState.extra (settings, policy, sidecars)."""
    items = desired.extra.get(PROVIDER, ())
    settings = next((i for i in items if isinstance(i, TailnetSettings)), None)
    policy = next((i for i in items if isinstance(i, DesiredPolicy)), None)
    nodes = sorted((i for i in items if isinstance(i, SidecarNode)), key=lambda n: n.container)
    return settings, policy, nodes


def _as_data(normalised: str) -> Any:
    """Normalised JSON back to data, so the renderer diffs it line by line."""
    try:
        return json.loads(normalised)
    except ValueError:
        return normalised


def _policy_action(
    settings: TailnetSettings, policy: DesiredPolicy, observed: PolicyFile
) -> Action | None:
    decision = decide_policy(policy, observed)
    if not decision.needed:
        return None
    return Action(
        id="tailscale:policy",
        provider=PROVIDER,
        verb=ts.SetPolicy.verb,
        resource=f"tailnet policy ({policy.origin})",
        causes=decision.causes,
        changes=(
            FieldChange(
                field="policy",
                before=_as_data(decision.observed_normalised),
                after=json.loads(policy.normalised),
            ),
        ),
        source=settings.policy_source,
        payload=ts.SetPolicy(etag=decision.etag, digest=policy.digest),
    )


def desired_device_tags(
    settings: TailnetSettings, nodes: list[SidecarNode]
) -> tuple[dict[str, tuple[str, ...]], dict[str, SourceLocation]]:
    """Hostname → tags from tailnet.yaml and every sidecar; conflicts are a PlanError."""
    desired_tags = dict(settings.devices)
    sources = dict(settings.device_sources)
    for node in nodes:
        if node.hostname in desired_tags and desired_tags[node.hostname] != node.tags:
            raise PlanError(
                f"tailscale: hostname {node.hostname!r} is declared twice with different tags: "
                f"{', '.join(node.tags)} at {node.source} and "
                f"{', '.join(desired_tags[node.hostname])} at {sources[node.hostname]}; "
                "give each node its own hostname, or the same tags"
            )
        if node.hostname in sources and any(
            n.hostname == node.hostname and n.container != node.container for n in nodes
        ):
            raise PlanError(
                f"tailscale: two sidecars use the hostname {node.hostname!r} "
                f"({sources[node.hostname]} and {node.source}); each node needs its own"
            )
        desired_tags[node.hostname] = node.tags
        sources[node.hostname] = node.source
    return desired_tags, sources


def _seconds(value: int | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


def _device_actions(
    settings: TailnetSettings, nodes: list[SidecarNode], observed: TailnetObserved
) -> tuple[list[Action], list[str]]:
    desired_tags, sources = desired_device_tags(settings, nodes)
    managed = frozenset(t for tags in desired_tags.values() for t in tags)
    decisions = decide_devices(
        observed.devices,
        desired_tags,
        managed_tags=managed,
        now=observed.now,
        prune_duplicates_after=_seconds(settings.prune_duplicates_after_s),
        prune_stale_after=_seconds(settings.prune_stale_after_s),
        stale_report_after=timedelta(seconds=settings.stale_report_after_s),
    )
    actions: list[Action] = []
    notes: list[str] = []
    for d in decisions:
        if d.kind == "set-tags":
            before, after = list(d.tags_before), list(d.tags_after)
            tags = ts.SetDeviceTags(node_id=d.node_id, tags=d.tags_after)
            action = Action(
                id=f"tailscale:device:{d.hostname}",
                provider=PROVIDER,
                verb=tags.verb,
                resource=f"device {d.hostname}",
                causes=(d.cause,),
                changes=(FieldChange(field="tags", before=before, after=after),),
                source=sources.get(d.hostname),
                payload=tags,
            )
            actions.append(action)
        elif d.kind == "delete":
            delete = ts.DeleteDevice(node_id=d.node_id)
            resource = f"device {d.hostname} ({d.node_id})"
            action_id = f"tailscale:device-delete:{d.node_id}"
            actions.append(
                Action(
                    id=action_id,
                    provider=PROVIDER,
                    verb=delete.verb,
                    resource=resource,
                    causes=(d.cause,),
                    source=settings.source,
                    payload=delete,
                )
            )
        else:
            why = (
                "not removed (opt in under prune: in gitops/tailscale/tailnet.yaml)"
                if d.managed
                else "not managed by this stack, never removed"
            )
            notes.append(f"device {d.hostname} ({d.node_id}): {d.cause}; {why}")
    for hostname in sorted(desired_tags):
        if (
            all(dev.hostname != hostname for dev in observed.devices)
            and hostname in settings.devices
        ):
            notes.append(f"device {hostname} is declared but not in the tailnet yet")
    return actions, notes


def _dns_actions(settings: TailnetSettings, observed: TailnetObserved) -> list[Action]:
    def action(payload: Payload, what: str, change: FieldChange, cause: str) -> Action:
        return Action(
            id=f"tailscale:dns:{payload.verb.removeprefix('set-dns-')}",
            provider=PROVIDER,
            verb=payload.verb,
            resource=f"tailnet {what}",
            causes=(cause,),
            changes=(change,),
            source=settings.dns_source,
            payload=payload,
        )

    actions: list[Action] = []
    if settings.nameservers is not None and tuple(settings.nameservers) != observed.nameservers:
        before = list(observed.nameservers or ())
        change = FieldChange(field="nameservers", before=before, after=list(settings.nameservers))
        servers = ts.SetDnsNameservers(nameservers=settings.nameservers)
        actions.append(action(servers, "DNS nameservers", change, "nameservers differ"))
    if settings.magic_dns is not None and settings.magic_dns != observed.magic_dns:
        change = FieldChange(field="magicDNS", before=observed.magic_dns, after=settings.magic_dns)
        preferences = action(
            ts.SetDnsPreferences(magic_dns=settings.magic_dns),
            "MagicDNS",
            change,
            "magicDNS differs",
        )
        # ordered after the nameservers when both change
        depends = tuple(a.id for a in actions)
        actions.append(preferences.model_copy(update={"depends_on": depends}))
    if settings.search_paths is not None and tuple(settings.search_paths) != observed.search_paths:
        before = list(observed.search_paths or ())
        change = FieldChange(field="searchPaths", before=before, after=list(settings.search_paths))
        paths = ts.SetDnsSearchPaths(search_paths=settings.search_paths)
        actions.append(action(paths, "DNS search paths", change, "search paths differ"))
    return actions


def _key_actions(
    nodes: list[SidecarNode], observed: TailnetObserved
) -> tuple[list[Action], list[str]]:
    """Mint a key for each node without a login; note a logged-in node the tailnet lost."""
    actions: list[Action] = []
    notes: list[str] = []
    hosts = {d.hostname for d in observed.devices}
    for node in nodes:
        if observed.node_state.get(node.container):
            if node.hostname not in hosts:
                notes.append(
                    f"sidecar {node.container} has state but node {node.hostname} is not in "
                    "the tailnet (deleted in the console?); remove that container so the "
                    "next apply mints a key and it logs in again"
                )
            continue
        exists = node.container in observed.sidecars_present
        cause = f"node has no login in volume {node.state_volume}"
        if exists:
            cause += "; the sidecar is recreated to receive the key"
        if node.hostname in hosts:
            cause += (
                f"; a device {node.hostname} already exists, so the new node registers as "
                f"{node.hostname}-1 and the old one shows as a duplicate"
            )
        actions.append(
            Action(
                id=f"tailscale:authkey:{node.container}",
                provider=PROVIDER,
                verb=ts.MintAuthKey.verb,
                resource=f"auth key for node {node.hostname}",
                causes=(cause,),
                changes=(FieldChange(field="tags", before=None, after=list(node.tags)),),
                provides=(f"secret:{node.secret}",),
                source=node.source,
                payload=ts.MintAuthKey(
                    container=node.container,
                    hostname=node.hostname,
                    expiry_seconds=node.key_expiry_seconds,
                ),
            )
        )
    return actions, notes


def plan_tailnet(
    desired: DesiredState, observed: TailnetObserved
) -> tuple[list[Action], list[str]]:
    """All tailnet actions (sorted by id) and the notes to print beside them."""
    settings, policy, nodes = desired_items(desired)
    if settings is None:
        if nodes:
            return [], [
                "services declare tailscale: sidecars but there is no Tailnet "
                "document (gitops/tailscale/tailnet.yaml); no auth keys can be minted"
            ]
        return [], []
    if not observed.credentials:
        notes = [NO_CREDENTIALS]
        notes += [
            f"sidecar {n.container} cannot get an auth key without credentials; "
            "it will wait for an interactive login"
            for n in nodes
            if not observed.node_state.get(n.container)
        ]
        return [], notes
    actions: list[Action] = []
    if policy is not None and observed.policy is not None:
        action = _policy_action(settings, policy, observed.policy)
        if action is not None:
            actions.append(action)
    device_actions, notes = _device_actions(settings, nodes, observed)
    actions += device_actions
    actions += _dns_actions(settings, observed)
    key_actions, key_notes = _key_actions(nodes, observed)
    actions += key_actions
    notes += key_notes
    policy_ids = tuple(a.id for a in actions if isinstance(a.payload, ts.SetPolicy))
    # New tags must exist in tagOwners before devices or keys use them: policy first.
    ordered = [
        a.model_copy(update={"depends_on": tuple(sorted({*a.depends_on, *policy_ids}))})
        if isinstance(a.payload, ts.SetDeviceTags | ts.MintAuthKey) and policy_ids
        else a
        for a in actions
    ]
    return sorted(ordered, key=lambda a: a.id), notes
