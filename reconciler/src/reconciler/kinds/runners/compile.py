"""RunnerPool document → runner containers, their files and secrets, registration steps. Pure.

Per runner: a container running the rendered start script, config.yml (and the `.runner`
template up to Forgejo 14, or config.yml with `server.connections` from 15, chosen by the
declared Forgejo version), its derived secret as a file, a data volume for the cache; in the
Forgejo container a `forgejo-cli actions register` step probed by a marker so re-applying
registers nothing twice. Per pool: a prune step revoking runners removed from YAML, and for
`docker.mode: dind` a privileged docker:dind sidecar. A runner that is running the deploy
itself is recreated last by deferring it (ReplacePolicy.defer_on_runner).
"""

from __future__ import annotations

from reconciler.kinds.base import CompileContext
from reconciler.kinds.forgejo import Forgejo, internal_url, parse_version
from reconciler.resources import (
    BootstrapStep,
    Compiled,
    ContainerSpec,
    DerivedSecret,
    FileSpec,
    GeneratedSecret,
    Mount,
    PortSpec,
    ReplacePolicy,
    SecretFile,
    SecretRef,
    SecretRequirement,
    VolumeSpec,
)

from .model import RunnerPool, parse_label
from .render import (
    CONFIG_DIR,
    DATA_DIR,
    identity,
    prune_command,
    prune_probe,
    register_command,
    register_probe,
    render_config,
    render_dot_runner,
    render_start_script,
)

__all__ = ["RUNNER_UID", "compile_runner_pool"]

RUNNER_UID = 1000  # the runner image's USER 1000:1000
DIND_TLS_PORT = 2376
DIND_CERTS = "/certs"
SECRETS_DIR = "/run/secrets"
LABEL_FIX = "write NAME:docker://IMAGE, NAME:lxc://IMAGE or NAME:host"


def _forgejo(pool: RunnerPool, ctx: CompileContext) -> Forgejo | None:
    if ctx.unresolved(f"Forgejo/{pool.forgejo}"):
        return None  # its own errors are reported; nothing to add about the pool
    doc = ctx.documents.get(f"Forgejo/{pool.forgejo}")
    if isinstance(doc, Forgejo):
        return doc
    declared = sorted(key.split("/", 1)[1] for key in ctx.documents if key.startswith("Forgejo/"))
    ctx.error(
        ("forgejo",),
        f"no Forgejo named {pool.forgejo!r} is declared",
        fix=f"set forgejo: to one of {declared}" if declared else "declare one in gitops/forgejo/",
    )
    return None


def _check_labels(pool: RunnerPool, ctx: CompileContext) -> bool:
    ok = True
    for index, label in enumerate(pool.labels):
        try:
            parse_label(label)
        except ValueError as exc:
            ctx.error(("labels", index), str(exc), fix=LABEL_FIX)
            ok = False
    return ok


def _docker_access(pool: RunnerPool, ctx: CompileContext) -> tuple[dict, list[ContainerSpec]]:
    """Mounts/groups/env for the runner, what its jobs get, and the DinD sidecar if any.

    DinD runs the image's own entrypoint with `DOCKER_TLS_CERTDIR`, which generates a CA,
    a server certificate (its SAN includes the container's hostname, set to the sidecar's
    name) and a client certificate whose key it makes world-readable for sharing; the
    daemon then listens on 2376 with `--tlsverify` only. The certificates live in a volume
    that only this pool's runners mount, read-only, so nothing else on the stack network
    can drive the daemon (jobs reaching an unauthenticated :2375 is a
    known failure). Jobs are created by that daemon and share its network namespace
    (`container.network: host` inside DinD), which is on the stack network, so they resolve
    `forgejo`, the registry and the runner's cache by name; with `jobs_get_docker` they get
    DinD's own unix socket mounted (a bind path is resolved by DinD, not the host).
    Not checked against a real docker:dind here (it cannot be pulled): follows the image's
    dockerd-entrypoint.sh as published.
    """
    access = pool.docker
    if access.mode == "socket":
        host_network = pool.job_network == "host"
        return {
            "mounts": (Mount(target="/var/run/docker.sock", bind=access.socket),),
            "group_add": (str(access.socket_gid),),
            "env": {},
            "docker_host": "automount" if access.jobs_get_docker else "-",
            "job_network": "host" if host_network else f"{ctx.stack.project}_{ctx.stack.network}",
            "cache_on_loopback": host_network,
            "job_envs": {},
            "job_options": "",
            "valid_volumes": [],
            "depends_on": (),
        }, []
    dind = f"{pool.name}-dind"
    certs = f"{dind}-certs"
    url = f"tcp://{dind}:{DIND_TLS_PORT}"
    sidecar = ContainerSpec(
        name=dind,
        image=access.dind_image,
        hostname=dind,
        env={"DOCKER_TLS_CERTDIR": DIND_CERTS},
        mounts=(
            Mount(target="/var/lib/docker", volume=f"{dind}-storage"),
            Mount(target=DIND_CERTS, volume=certs),
        ),
        privileged=True,
        networks=(ctx.stack.network,),
        owner=ctx.document,
        source=ctx.here("docker"),
    )
    socket = "/var/run/docker.sock"
    return {
        "mounts": (Mount(target=DIND_CERTS, volume=certs, read_only=True),),
        "group_add": (),
        "env": {
            "DOCKER_HOST": url,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": f"{DIND_CERTS}/client",
        },
        "docker_host": url,
        "job_network": "host",
        "cache_on_loopback": False,
        "job_envs": {"DOCKER_HOST": f"unix://{socket}"} if access.jobs_get_docker else {},
        "job_options": f"-v {socket}:{socket}" if access.jobs_get_docker else "",
        "valid_volumes": [socket] if access.jobs_get_docker else [],
        "depends_on": (dind,),
    }, [sidecar]


def _cache_ports(pool: RunnerPool, access: dict, ctx: CompileContext) -> tuple[PortSpec, ...]:
    """Jobs on the host network reach the runner's cache at 127.0.0.1: publish it there."""
    if not (access["cache_on_loopback"] and pool.cache.enabled):
        return ()
    if len(pool.runner_names()) > 1:
        ctx.error(
            ("job_network",),
            "jobs on the host network reach the cache on 127.0.0.1, so each runner needs its "
            f"own host ports, but pool {pool.name!r} has {len(pool.runner_names())} runners",
            fix="declare one runner per pool with `job_network: host`, or set "
            "`cache: {enabled: false}`",
        )
        return ()
    return tuple(
        PortSpec(host_port=port, container_port=port)
        for port in (pool.cache.port, pool.cache.proxy_port)
    )


def compile_runner_pool(pool: RunnerPool, ctx: CompileContext) -> Compiled:
    forgejo = _forgejo(pool, ctx)
    labels_ok = _check_labels(pool, ctx)
    if forgejo is None or not labels_ok:
        return Compiled()
    connections = parse_version(forgejo.version).connections_in_config
    instance = internal_url(forgejo)
    access, sidecars = _docker_access(pool, ctx)
    cache_ports = _cache_ports(pool, access, ctx)
    owner = (ctx.document,)
    containers: list[ContainerSpec] = list(sidecars)
    volumes = [
        VolumeSpec(name=m.volume, source=ctx.here("docker"))
        for c in sidecars
        for m in c.mounts
        if m.volume
    ]
    steps: list[BootstrapStep] = []
    secrets = [
        SecretRequirement(
            name=pool.secret,
            needed_by=owner,
            generate=GeneratedSecret(length=64, alphabet="hex"),
            help="base of every runner's registration secret in this pool",
            source=ctx.here("secret"),
        )
    ]
    for runner in pool.runner_names():
        who = identity(pool, runner, forgejo.name)
        config = render_config(
            pool,
            who,
            network=access["job_network"],
            instance_url=instance,
            connections=connections,
            docker_host=access["docker_host"],
            cache_host="127.0.0.1" if access["cache_on_loopback"] else runner,
            job_envs=access["job_envs"],
            job_options=access["job_options"],
            valid_volumes=access["valid_volumes"],
        )
        secret_file = f"{SECRETS_DIR}/{who.tail_secret}"
        if connections:
            template, target = f"{CONFIG_DIR}/config.yml.template", f"{DATA_DIR}/config.yml"
            files = [FileSpec(target=template, content=config, uid=RUNNER_UID, gid=RUNNER_UID)]
            config_path = target
        else:
            template, target = f"{CONFIG_DIR}/runner.json.template", f"{DATA_DIR}/.runner"
            config_path = f"{CONFIG_DIR}/config.yml"
            files = [
                FileSpec(target=config_path, content=config, uid=RUNNER_UID, gid=RUNNER_UID),
                FileSpec(
                    target=template,
                    content=render_dot_runner(pool, who, instance),
                    uid=RUNNER_UID,
                    gid=RUNNER_UID,
                ),
            ]
        script = render_start_script(
            template=template, target=target, config=config_path, secret_file=secret_file
        )
        files.append(
            FileSpec(
                target=f"{CONFIG_DIR}/start.sh",
                content=script,
                mode=0o755,
                uid=RUNNER_UID,
                gid=RUNNER_UID,
            )
        )
        containers.append(
            ContainerSpec(
                name=runner,
                image=pool.image,
                command=("sh", f"{CONFIG_DIR}/start.sh"),
                env=dict(access["env"]),
                mounts=(Mount(target=DATA_DIR, volume=f"{runner}-data"), *access["mounts"]),
                files=tuple(files),
                secret_files=(
                    SecretFile(
                        secret=who.tail_secret, target=secret_file, uid=RUNNER_UID, gid=RUNNER_UID
                    ),
                ),
                group_add=access["group_add"],
                ports=cache_ports,
                working_dir=DATA_DIR,
                networks=(ctx.stack.network,),
                depends_on=(forgejo.name, *access["depends_on"]),
                replace=ReplacePolicy(defer_on_runner=runner),
                stop_timeout_s=60,
                owner=ctx.document,
                source=ctx.here(),
            )
        )
        volumes.append(VolumeSpec(name=f"{runner}-data", source=ctx.here()))
        secrets.append(
            SecretRequirement(
                name=who.tail_secret,
                needed_by=owner,
                generate=DerivedSecret(
                    from_secret=pool.secret,
                    context=f"forgejo-runner:{forgejo.name}:{runner}",
                    length=24,
                ),
                source=ctx.here("secret"),
            )
        )
        steps.append(
            BootstrapStep(
                id=f"{pool.name}:register:{runner}",
                container=forgejo.name,
                command=register_command(pool, who, forgejo.name),
                probe=register_probe(pool, who, forgejo.name),
                triggers=(runner,),
                env={"RUNNER_SECRET_TAIL": SecretRef(secret=who.tail_secret)},
                description=f"register runner {runner} ({who.uuid}) with {forgejo.name}",
                owner=ctx.document,
                source=ctx.here("labels"),
            )
        )
    steps.append(
        BootstrapStep(
            id=f"{pool.name}:prune",
            container=forgejo.name,
            command=prune_command(pool),
            probe=prune_probe(pool),
            after=tuple(step.id for step in steps),
            description=f"revoke runners no longer declared in pool {pool.name}",
            revokes_runners=True,
            owner=ctx.document,
            source=ctx.here(),
        )
    )
    return Compiled(
        volumes=tuple(volumes),
        containers=tuple(containers),
        bootstrap=tuple(steps),
        secrets=tuple(secrets),
    )
