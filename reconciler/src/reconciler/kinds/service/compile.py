"""Service document → one ContainerSpec (+ whatever its extensions add). Pure."""

from __future__ import annotations

import json
from typing import Any

from reconciler.config_models import check_config_file
from reconciler.kinds.base import CompileContext
from reconciler.resources import (
    Compiled,
    ContainerSpec,
    FileSpec,
    Healthcheck,
    Limits,
    Mount,
    PortSpec,
    SecretFile,
    SecretRef,
    SecretRequirement,
)
from reconciler.validate import format_path

from .model import Service

__all__ = ["apply_extensions", "compile_service", "http_probe", "merge_compiled"]


def http_probe(url: str, timeout: float) -> tuple[str, ...]:
    """A HEALTHCHECK that GETs `url` with the image's python3 (no curl in slim images)."""
    code = (
        "import sys,urllib.request;"
        f"sys.exit(0 if urllib.request.urlopen({json.dumps(url)},timeout={timeout:g}).status<400"
        " else 1)"
    )
    return ("CMD", "python3", "-c", code)


def compile_service(doc: Service, ctx: CompileContext) -> Compiled:
    """Compile a Service; any kind that runs a plain container may reuse this."""
    defaults = ctx.stack.defaults
    files = []
    for index, entry in enumerate(doc.files):
        content = entry.content
        origin = None
        if entry.source is not None:
            content = ctx.read_text(entry.source, ("files", index, "source"))
            origin = str((ctx.file.parent / entry.source).relative_to(ctx.gitops_dir.parent))
        if entry.config_of is not None and content is not None:
            check_config_file(
                content,
                ctx.file.parent / entry.source if entry.source else None,
                entry.config_of,
                ctx,
                ("files", index),
            )
        if content is None:
            continue
        files.append(
            FileSpec(
                target=entry.target,
                content=content,
                mode=entry.mode,
                uid=entry.uid,
                gid=entry.gid,
                origin=origin or f"{ctx.document} files[{index}]",
            )
        )
    health = None
    if doc.healthcheck is not None:
        hc = doc.healthcheck
        test = (
            http_probe(hc.http, hc.timeout) if hc.http is not None else ("CMD", *(hc.command or ()))
        )
        health = Healthcheck(
            test=test,
            interval_s=hc.interval,
            timeout_s=hc.timeout,
            retries=hc.retries,
            start_period_s=hc.start_period,
        )
    network_mode = doc.network_mode
    networks = () if network_mode else tuple(doc.networks or (ctx.stack.network,))
    main = ContainerSpec(
        name=doc.name,
        role=doc.role,
        image=doc.image,
        command=tuple(doc.command) if doc.command is not None else None,
        entrypoint=tuple(doc.entrypoint) if doc.entrypoint is not None else None,
        env=dict(sorted(doc.env.items())),
        ports=tuple(
            PortSpec(
                host_ip=p.ip or defaults.publish_ip,
                host_port=p.host,
                container_port=p.container,
                protocol=p.protocol,
            )
            for p in doc.ports
        ),
        mounts=tuple(
            Mount(target=v.target, volume=v.volume, bind=v.bind, read_only=v.read_only)
            for v in doc.volumes
        ),
        files=tuple(files),
        secret_files=tuple(
            SecretFile(secret=s.secret, target=s.target, mode=s.mode, uid=s.uid, gid=s.gid)
            for s in doc.secret_files
        ),
        healthcheck=health,
        restart=doc.restart or ("no" if doc.role == "job" else defaults.restart),
        limits=Limits(memory_bytes=doc.resources.memory_bytes(), cpus=doc.resources.cpus),
        networks=networks,
        network_mode=network_mode,
        group_add=tuple(doc.group_add),
        user=doc.user,
        working_dir=doc.working_dir,
        labels=dict(sorted(doc.labels.items())),
        depends_on=tuple(doc.depends_on),
        health_timeout_s=doc.health_timeout or defaults.health_timeout,
        stop_timeout_s=defaults.stop_timeout,
        owner=ctx.document,
        source=ctx.here(),
    )
    main, extra = apply_extensions(doc, main, ctx)
    own = Compiled(containers=(main,), secrets=secrets_of(main, ctx.document, ctx))
    return merge_compiled(own, extra)


def secrets_of(
    spec: ContainerSpec, needed_by: str, ctx: CompileContext
) -> tuple[SecretRequirement, ...]:
    """One requirement per reference to a secret (env or secret file), at its node, so a
    secret nobody declares is reported where it is named."""
    refs: list[tuple[str, tuple[str | int, ...]]] = [
        (v.secret, ("env", k)) for k, v in spec.env.items() if isinstance(v, SecretRef)
    ]
    refs += [(f.secret, ("secret_files", i, "secret")) for i, f in enumerate(spec.secret_files)]
    return tuple(
        SecretRequirement(
            name=name,
            needed_by=(needed_by,),
            source=ctx.here(*loc),
            reference=format_path(loc),
        )
        for name, loc in sorted(refs)
    )


def apply_extensions(
    doc: Any, main: ContainerSpec, ctx: CompileContext
) -> tuple[ContainerSpec, Compiled]:
    """Run every registered ServiceExtension whose key is set on `doc`."""
    from reconciler.kinds import service_extensions

    extra = Compiled()
    for key, extension in service_extensions().items():
        value = getattr(doc, key, None)
        if value is None:
            continue
        main, added = extension.compile(value, main, ctx)
        extra = merge_compiled(extra, added)
    return main, extra


def merge_compiled(*parts: Compiled) -> Compiled:
    """Concatenate compiled parts (duplicates are reported by the cross-file checks)."""
    extra: dict[str, tuple[Any, ...]] = {}
    for part in parts:
        for provider, items in part.extra.items():
            extra[provider] = extra.get(provider, ()) + tuple(items)
    return Compiled(
        networks=tuple(n for p in parts for n in p.networks),
        volumes=tuple(v for p in parts for v in p.volumes),
        containers=tuple(c for p in parts for c in p.containers),
        bootstrap=tuple(b for p in parts for b in p.bootstrap),
        secrets=tuple(s for p in parts for s in p.secrets),
        extra=extra,
    )
