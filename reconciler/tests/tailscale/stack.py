"""Build a small gitops/ tree for the tailnet tests, compile it with the real engine code,
and run the real planner/executor with the Tailscale provider against the test double."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from factory_common.tailscale.api import TailscaleClient
from factory_common_testing.tailscale_double import RunningDouble
from reconciler.actions import Plan
from reconciler.apply import ApplyResult, execute_plan
from reconciler.planner import build_plan
from reconciler.project import Project, load_project
from reconciler.providers.base import ExecContext, PlanContext
from reconciler.providers.tailscale.provider import TailscaleProvider
from reconciler.secrets import SecretStore

POLICY = """// test tailnet policy
{
  "tagOwners": {
    "tag:factory": ["autogroup:admin"],
    "tag:app": ["tag:factory"],
    "tag:ci": ["tag:factory"],
  },
  "grants": [
    {"src": ["tag:ci"], "dst": ["tag:app"], "ip": ["tcp:443"]},
  ],
  "tests": [
    {"src": "tag:ci", "accept": ["tag:app:443"], "deny": ["tag:app:22"]},
  ],
}
"""

TAILNET = """kind: Tailnet
name: factory
api_url: {api_url}
credentials:
  required: {required}
  api_key: tailscale_api_key
  oauth:
    client_id: tailscale_oauth_client_id
    client_secret: tailscale_oauth_client_secret
policy: policy.hujson
devices:
{devices}
prune:
  duplicates: {{enabled: {prune_dups}, older_than: 1d}}
  stale: {{enabled: {prune_stale}, older_than: 30d}}
dns:
  magic_dns: true
  nameservers: [1.1.1.1]
"""


@dataclass
class Tree:
    """A gitops/ directory under a temporary root (with .env and .secrets beside it)."""

    root: Path
    api_url: str
    project: str = "tstest"
    devices: dict[str, list[str]] = field(default_factory=dict)
    required: bool = False
    prune_dups: bool = False
    prune_stale: bool = False
    policy: str = POLICY
    services: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()

    @property
    def gitops(self) -> Path:
        return self.root / "gitops"

    def write(self) -> Path:
        (self.gitops / "tailscale").mkdir(parents=True, exist_ok=True)
        (self.gitops / "services").mkdir(parents=True, exist_ok=True)
        volumes = "".join(f"  {v}: {{}}\n" for v in self.volumes) or "  {}\n"
        (self.gitops / "stack.yaml").write_text(
            f"kind: Stack\nproject: {self.project}\nvolumes:\n{volumes}"
        )
        devices = "".join(f"  {h}: {{tags: [{', '.join(t)}]}}\n" for h, t in self.devices.items())
        (self.gitops / "tailscale" / "tailnet.yaml").write_text(
            TAILNET.format(
                api_url=self.api_url,
                required=str(self.required).lower(),
                devices=devices or "  {}\n",
                prune_dups=str(self.prune_dups).lower(),
                prune_stale=str(self.prune_stale).lower(),
            )
        )
        (self.gitops / "tailscale" / "policy.hujson").write_text(self.policy)
        for old in (self.gitops / "services").glob("*.yaml"):
            old.unlink()
        for name, body in self.services.items():
            (self.gitops / "services" / f"{name}.yaml").write_text(textwrap.dedent(body))
        return self.gitops


@dataclass
class Engine:
    """The real compile → plan → apply path of the Tailscale provider, environment injectable."""

    tree: Tree
    ts: RunningDouble
    environ: dict[str, str] = field(default_factory=dict)
    project: Project | None = None
    store: SecretStore | None = None
    provider: TailscaleProvider | None = None

    def close(self) -> None:
        if self.provider is not None:
            self.provider.close()

    def load(self) -> Project:
        self.close()
        self.tree.write()
        self.project = load_project(self.tree.gitops)
        self.store = SecretStore(
            self.project.stack.project,
            self.project.desired.secrets,
            environ=self.environ,
            env_file=self.tree.root / ".env",
            secrets_dir=self.tree.root / ".secrets",
        )

        def client_factory(settings, credentials) -> TailscaleClient:
            return TailscaleClient(credentials, base_url=settings.api_url, sleep=lambda _s: None)

        self.provider = TailscaleProvider(
            project=self.project.stack.project,
            secrets=self.store,
            client_factory=client_factory,
        )
        return self.project

    def plan(self) -> Plan:
        project = self.load()
        assert self.store is not None
        assert self.provider is not None
        ctx = PlanContext(desired=project.desired, secrets=self.store)
        return build_plan(project.desired, {"tailscale": self.provider}, ctx)

    def apply(self, plan: Plan) -> ApplyResult:
        assert self.project is not None
        assert self.store is not None
        assert self.provider is not None
        ctx = ExecContext(desired=self.project.desired, secrets=self.store, progress=print)
        return execute_plan(plan, {"tailscale": self.provider}, ctx)
