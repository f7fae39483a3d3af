"""The `Tailnet` kind and the `tailscale:` service extension (listed in `reconciler.builtin`).

Compiling a `Tailnet` document reads the policy file next to it, reports HuJSON errors and
undeclared tags at `policy.hujson:line:col`, and hands the provider a `DesiredPolicy` and
`TailnetSettings`. Credentials are only named here, as optional operator secrets: either
the API key or both OAuth halves will do, which a per-secret "required" cannot say. So
`credentials.required: true` is enforced by the provider when plan observes the tailnet:
with no usable credential it stops plan/apply naming every variable and this file's
`credentials.required` line. `gitops validate` stays secret-free (it never resolves a
secret, by design); without `required` the tailnet part is skipped with a note.
"""

from __future__ import annotations

from factory_common.tailscale import hujson
from pydantic import BaseModel

from reconciler.errors import Diagnostic
from reconciler.kinds.base import CompileContext, KindSpec, ServiceExtension
from reconciler.providers.tailscale.config import TailnetDoc, TailscaleSidecar, parse_age
from reconciler.providers.tailscale.desired import TailnetSettings
from reconciler.providers.tailscale.policy import DesiredPolicy, local_problems
from reconciler.providers.tailscale.sidecar import compile_sidecar
from reconciler.resources import Compiled, ProvidedSecret, SecretRequirement
from reconciler.source import SourceLocation

__all__ = ["SIDECAR_EXTENSION", "TAILNET_KIND", "compile_tailnet"]

CREDENTIALS_HELP = (
    "an API access token (tskey-api-…) from https://login.tailscale.com/admin/settings/keys, "
    "or an OAuth client with scopes policy_file, devices:core, auth_keys, dns"
)


def _policy(doc: TailnetDoc, ctx: CompileContext) -> DesiredPolicy | None:
    if doc.policy is None:
        return None
    text = ctx.read_text(doc.policy, ("policy",))
    if text is None:
        return None
    path = (ctx.file.parent / doc.policy).resolve()
    try:
        origin = str(path.relative_to(ctx.gitops_dir.resolve().parent))
    except ValueError:
        origin = str(path)
    try:
        problems = local_problems(text)
    except hujson.HuJSONError as exc:
        ctx.diagnostics.append(
            Diagnostic(
                SourceLocation(file=origin, line=exc.line, column=exc.column),
                "",
                f"invalid HuJSON: {exc.message}",
                exc.fix or "fix the syntax at this position",
            )
        )
        return None
    for problem in problems:
        ctx.diagnostics.append(
            Diagnostic(
                SourceLocation(file=origin, line=problem.line, column=problem.column),
                "",
                problem.message,
                problem.fix,
            )
        )
    return DesiredPolicy.from_text(text, origin)


def _secret_requirements(doc: TailnetDoc, ctx: CompileContext) -> tuple[SecretRequirement, ...]:
    creds = doc.credentials
    names: list[str] = []
    if creds.api_key is not None:
        names.append(creds.api_key)
    if creds.oauth is not None:
        names += [creds.oauth.client_id, creds.oauth.client_secret]
    if not names and creds.required:
        ctx.error(
            ("credentials",),
            "credentials.required is true but neither api_key nor oauth names a secret",
            fix="set `api_key: tailscale_api_key` (or `oauth: {client_id, client_secret}`)",
        )
    # Declared as provided by the operator: the secret store resolves each one when present
    # (environment, .env, secrets dir) and says nothing when it is absent; whether enough of
    # them are set is the provider's question (either credential will do).
    optional = ProvidedSecret(by="operator (optional)", ephemeral=True)
    return tuple(
        SecretRequirement(
            name=name,
            needed_by=(ctx.document,),
            generate=optional,
            help=CREDENTIALS_HELP,
            source=ctx.here("credentials"),
        )
        for name in names
    )


def compile_tailnet(doc: TailnetDoc, ctx: CompileContext) -> Compiled:
    """Tailnet document → provider items (policy, settings) and credential requirements."""
    policy = _policy(doc, ctx)
    if policy is not None:
        for hostname, decl in sorted(doc.devices.items()):
            for index, tag in enumerate(decl.tags):
                if tag not in policy.tag_owners:
                    ctx.error(
                        ("devices", hostname, "tags", index),
                        f"{tag} is not declared in tagOwners of {policy.origin}",
                        fix=f'add "{tag}": ["autogroup:admin"] to tagOwners, or use one of: '
                        + (", ".join(policy.tag_owners) or "none"),
                    )
    prune = doc.prune
    settings = TailnetSettings(
        name=doc.name,
        tailnet=doc.tailnet,
        api_url=doc.api_url,
        required=doc.credentials.required,
        credentials_source=ctx.here("credentials", "required"),
        api_key_secret=doc.credentials.api_key,
        oauth_client_id_secret=doc.credentials.oauth.client_id if doc.credentials.oauth else None,
        oauth_client_secret_secret=(
            doc.credentials.oauth.client_secret if doc.credentials.oauth else None
        ),
        devices={h: tuple(sorted(d.tags)) for h, d in sorted(doc.devices.items())},
        device_sources={h: ctx.here("devices", h) for h in sorted(doc.devices)},
        prune_duplicates_after_s=(
            int(parse_age(prune.duplicates.older_than).total_seconds())
            if prune.duplicates.enabled
            else None
        ),
        prune_stale_after_s=(
            int(parse_age(prune.stale.older_than).total_seconds()) if prune.stale.enabled else None
        ),
        stale_report_after_s=int(parse_age(prune.stale.older_than).total_seconds()),
        magic_dns=doc.dns.magic_dns if doc.dns else None,
        nameservers=tuple(doc.dns.nameservers)
        if doc.dns and doc.dns.nameservers is not None
        else None,
        search_paths=tuple(doc.dns.search_paths)
        if doc.dns and doc.dns.search_paths is not None
        else None,
        dns_source=ctx.here("dns") if doc.dns else None,
        policy_source=ctx.here("policy") if doc.policy else None,
        source=ctx.here(),
    )
    items: tuple[BaseModel, ...] = (settings,) if policy is None else (settings, policy)
    return Compiled(secrets=_secret_requirements(doc, ctx), extra={"tailscale": items})


TAILNET_KIND: KindSpec[TailnetDoc] = KindSpec(
    kind="Tailnet", model=TailnetDoc, compile=compile_tailnet, folder="tailscale"
)
SIDECAR_EXTENSION: ServiceExtension[TailscaleSidecar] = ServiceExtension(
    key="tailscale", model=TailscaleSidecar, compile=compile_sidecar
)
