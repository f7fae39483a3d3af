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
DIND_PORT = 2375
SECRETS_DIR = "/run/secrets"
LABEL_FIX = "write NAME:docker://IMAGE, NAME:lxc://IMAGE or NAME:host"


def _forgejo(pool: RunnerPool, ctx: CompileContext) -> Forgejo | None:
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
    """Mounts/groups/env for the runner, the jobs' docker_host, and the DinD sidecar if any."""
    access = pool.docker
    if access.mode == "socket":
        return {
            "mounts": (Mount(target="/var/run/docker.sock", bind=access.socket),),
            "group_add": (str(access.socket_gid),),
            "env": {},
            "docker_host": "automount" if access.jobs_get_docker else "-",
            "depends_on": (),
        }, []
    dind = f"{pool.name}-dind"
    url = f"tcp://{dind}:{DIND_PORT}"
    sidecar = ContainerSpec(
        name=dind,
        image=access.dind_image,
        command=("dockerd", "-H", f"tcp://0.0.0.0:{DIND_PORT}", "--tls=false"),
        env={"DOCKER_TLS_CERTDIR": ""},
        mounts=(Mount(target="/var/lib/docker", volume=f"{dind}-storage"),),
        privileged=True,
        networks=(ctx.stack.network,),
        owner=ctx.document,
        source=ctx.here("docker"),
    )
    return {
        "mounts": (),
        "group_add": (),
        "env": {"DOCKER_HOST": url},
        "docker_host": url,
        "depends_on": (dind,),
    }, [sidecar]


def compile_runner_pool(pool: RunnerPool, ctx: CompileContext) -> Compiled:
    forgejo = _forgejo(pool, ctx)
    labels_ok = _check_labels(pool, ctx)
    if forgejo is None or not labels_ok:
        return Compiled()
    connections = parse_version(forgejo.version).connections_in_config
    instance = internal_url(forgejo)
    network = f"{ctx.stack.project}_{ctx.stack.network}"
    access, sidecars = _docker_access(pool, ctx)
    owner = (ctx.document,)
    containers: list[ContainerSpec] = list(sidecars)
    volumes = [VolumeSpec(name=f"{c.name}-storage", source=ctx.here("docker")) for c in sidecars]
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
            network=network,
            instance_url=instance,
            connections=connections,
            docker_host=access["docker_host"],
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
