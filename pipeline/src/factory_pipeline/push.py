"""Log in to the private registry, push every built tag, and trust nothing until verified.

Why verify: a push's own report is not proof that the registry serves that manifest under
the tag (a concurrent push, a proxy, a converted manifest). After pushing, every tag is
resolved through the registry API (`factory_pipeline.registry_api`, HEAD with the full Accept
list) and must name the digest the push reported; only then is the digest recorded for
`gitops apply --image SERVICE=REPO@sha256:…`.

Credentials are the secrets `registry_username` and `registry_password`, resolved by the
reconciler's SecretStore exactly as `gitops apply` resolves them (environment → .env →
.secrets/), and passed to the engine per request: nothing is written to ~/.docker/config.json,
and no value is ever logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, DockerException
from ruamel.yaml import YAML

from factory_pipeline.build import PipelineBuildError
from factory_pipeline.declared import declared_registry, pipeline_user
from factory_pipeline.images import BuiltImage, Record, present_images, registry_address
from factory_pipeline.registry_api import RegistryClient, RegistryError
from reconciler import SecretRequirement, SecretsConfig, SecretsError, SecretStore

Log = Callable[[str], None]
USERNAME, PASSWORD = "registry_username", "registry_password"
_HELP = "a registry user's password (gitops/registry/); in Forgejo, a repository secret"


class MissingCredentialsError(PipelineBuildError):
    """The registry user's password (or user name) is set nowhere: not in the environment,
    .env or .secrets/. Typed, so a caller that can do without the registry tells this case
    from a registry that refused or failed, without matching message text."""

    def __init__(self, names: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.names = names


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never show the password, even in a traceback
        return f"Credentials(username={self.username!r}, password=•••)"


def _secrets_config(root: Path) -> SecretsConfig:
    """`secrets:` of gitops/stack.yaml (where .env and .secrets/ are), defaults without one."""
    stack = root / "gitops" / "stack.yaml"
    if stack.is_file():
        for document in YAML(typ="safe").load_all(stack.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "Stack":
                return SecretsConfig.model_validate(document.get("secrets") or {})
    return SecretsConfig()


def registry_credentials(root: Path, environ: Mapping[str, str] | None = None) -> Credentials:
    """Resolve the push credentials like `gitops apply` resolves secrets.

    The user is a declared registry user (gitops/registry/, env REGISTRY_USER picks one) and
    the password its `password_secret`; with no declared registry, the secrets
    `registry_username` and `registry_password`. MissingCredentialsError when one is unset.
    """
    # An unset Forgejo secret reaches the job as an empty variable: that is "not set".
    environ = {k: v for k, v in (os.environ if environ is None else environ).items() if v}
    registry = declared_registry(root)
    if registry is not None:
        user = pipeline_user(registry, environ.get("REGISTRY_USER"))
        username: str | None = user.name
        names: tuple[str, ...] = (user.password_secret or f"{registry.name}-{user.name}-password",)
    else:
        username, names = None, (USERNAME, PASSWORD)
    config = _secrets_config(root)
    gitops = root / "gitops"
    requirements = tuple(
        SecretRequirement(name=name, needed_by=("nox -s push",), help=_HELP) for name in names
    )
    try:
        store = SecretStore(
            "pipeline",
            requirements,
            environ=environ,
            env_file=(gitops / config.env_file).resolve(),
            secrets_dir=(gitops / config.dir).resolve(),
        )
    except SecretsError as exc:
        missing = tuple(m.name for m in exc.missing)
        raise MissingCredentialsError(missing, str(exc)) from exc
    username = username if username is not None else store.get(USERNAME)
    password = store.get(names[-1])
    if username is None or password is None:  # SecretStore raises first; kept for typing
        raise PipelineBuildError(f"{'/'.join(names)} could not be resolved")
    return Credentials(username, password)


def _push_tag(
    client: docker.DockerClient, image: BuiltImage, tag: str, creds: Credentials, log: Log
) -> str:
    """Push one tag; return the digest the engine reports for it."""
    repository, _, name = tag.rpartition(":")
    auth = {"username": creds.username, "password": creds.password}
    digest: str | None = None
    try:
        for event in client.images.push(
            repository, tag=name, stream=True, decode=True, auth_config=auth
        ):
            if "error" in event:
                raise PipelineBuildError(f"push {tag} failed: {event['error']}")
            digest = (event.get("aux") or {}).get("Digest") or digest
            status = event.get("status", "")
            if status and "id" not in event:  # per-layer progress would flood the log
                log(f"  {status}")
    except (APIError, DockerException) as exc:
        raise PipelineBuildError(f"push {tag} failed: {exc}") from exc
    if not digest:
        raise PipelineBuildError(f"push {tag}: the engine reported no digest")
    return digest


def push_image(
    client: docker.DockerClient, registry: RegistryClient, image: BuiltImage, creds: Credentials,
    log: Log,
) -> str:  # fmt: skip
    """Push all tags of one image and verify each through the registry API."""
    digests = {tag: _push_tag(client, image, tag, creds, log) for tag in image.tags}
    if len(set(digests.values())) != 1:
        raise PipelineBuildError(f"{image.service}: tags pushed with different digests {digests}")
    digest = next(iter(digests.values()))
    path = image.repository.split("/", 1)[1]
    for tag in image.tags:
        try:
            registry.verify_digest(path, tag.rpartition(":")[2], digest)
        except RegistryError as exc:
            raise PipelineBuildError(f"verify {tag}: {exc}") from exc
    log(f"pushed {image.service}: {image.repository}@{digest} ({len(image.tags)} tags verified)")
    return digest


def registry_client(root: Path) -> tuple[RegistryClient, str]:
    """A registry API client with the resolved credentials, and the registry address."""
    creds = registry_credentials(root)
    address = registry_address(root)
    return RegistryClient(api_url(address), creds.username, creds.password), address


def api_url(address: str) -> str:
    """Where this process reaches the registry's API.

    The engine pushes to `address` from the host's point of view (127.0.0.1:5000). Jobs
    on the runners' `engine` label run on the host's network, so the same address works
    for the API there too, as on the maintainer's machine and under act. REGISTRY_API_URL
    (a Forgejo variable) overrides it for a process that sees the registry elsewhere.
    """
    explicit = os.environ.get("REGISTRY_API_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    return f"{'http' if _is_loopback(address) else 'https'}://{address}"


def pushed_digests(root: Path, commit: str, log: Log) -> dict[str, str]:
    """`{service: REPO@digest}` the registry serves under the commit's SHA tag.

    What a scheduled drift check compares against: it runs on a fresh checkout with no
    build record, but every deploy pushed the commit's SHA tag.
    """
    found: dict[str, str] = {}
    client, address = registry_client(root)
    with client:
        for spec in present_images(root):
            try:
                digest = client.manifest_digest(spec.repository, commit)
            except RegistryError as exc:
                raise PipelineBuildError(f"registry {address}: {exc}") from exc
            if digest is None:
                log(f"{spec.service}: no image pushed for {commit[:12]}; comparing with git")
            else:
                found[spec.service] = f"{address}/{spec.repository}@{digest}"
    return found


def push_all(root: Path, client: docker.DockerClient, record: Record, log: Log) -> None:
    """Push every image of the record, verify it, and fill in its digest (in place)."""
    creds = registry_credentials(root)
    registry, address = registry_client(root)
    with registry:
        try:
            ping = registry.ping()
        except RegistryError as exc:
            raise PipelineBuildError(f"registry {address} is not answering: {exc}") from exc
        if not ping.authenticated:
            raise PipelineBuildError(
                f"registry {address} refused the credentials of {creds.username!r}"
            )
        for image in record.images:
            if not image.repository.startswith(address + "/"):
                raise PipelineBuildError(
                    f"{image.service} was built for {image.repository}, not registry {address}:"
                    " run `nox -s build` again with the same REGISTRY_ADDRESS"
                )
            image.digest = push_image(client, registry, image, creds, log)


def _is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    return host in {"localhost", "127.0.0.1", "[::1]"} or host.startswith("127.")
