"""A scratch copy of gitops/ that runs on this machine, for the act end-to-end test.

What changes, and why (everything else is the repository's own YAML, unchanged):
- project `pipe2e` and host ports from the pipeline's range, so the test never touches the
  stack or ports of anyone else on the shared engine;
- the registry runs Debian's docker-registry image (images/registry/), the stand-in for the
  upstream `registry:2.8` that cannot be pulled here;
- Forgejo, its runners and the tailnet are left out: their images cannot be pulled and the
  Tailscale API cannot be reached here (they have their own tests with stand-ins). The
  services the pipeline builds (mcp, analytics) and the registry it pushes to stay.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
from e2e_support import remove_repository_images
from ruamel.yaml import YAML

PROJECT = "pipe2e"
REGISTRY_PORT = 20560
SERVICE_PORTS = {"mcp": 20561, "analytics": 20562}
DROPPED = ("forgejo", "runners", "tailscale")
PROJECT_LABEL = "dev.chocolate-factory.gitops.project"
GUARD_PROJECT_LABEL = "dev.chocolate-factory.pipeline.project"


def _edit(path: Path, change) -> None:
    yaml = YAML()
    yaml.preserve_quotes = True
    documents = list(yaml.load_all(path.read_text()))
    for document in documents:
        change(document)
    with path.open("w") as handle:
        yaml.dump_all(documents, handle)


def make_runnable_here(repo: Path, registry_image: str) -> None:
    """Rewrite repo/gitops in place as described in the module docstring."""
    gitops = repo / "gitops"
    for folder in DROPPED:
        shutil.rmtree(gitops / folder, ignore_errors=True)

    def stack(doc) -> None:
        doc["project"] = PROJECT

    def registry(doc) -> None:
        doc["image"] = registry_image
        doc["port"] = REGISTRY_PORT

    def service(doc) -> None:
        if doc.get("kind") != "Service":
            return  # a data file next to a service (analytics-config.yaml)
        port = SERVICE_PORTS[doc["name"]]
        doc["ports"] = [f"127.0.0.1:{port}:8000"]
        doc.pop("tailscale", None)

    _edit(gitops / "stack.yaml", stack)
    for path in sorted((gitops / "registry").glob("*.yaml")):
        _edit(path, registry)
    for path in sorted((gitops / "services").glob("*.yaml")):
        _edit(path, service)


def registry_only(repo: Path) -> Path:
    """repo/gitops-bootstrap: the stack and the registry alone, sharing repo/.secrets.

    The first apply (the registry, before any image exists) runs from here.
    """
    target = repo / "gitops-bootstrap"
    target.mkdir()
    shutil.copy(repo / "gitops" / "stack.yaml", target / "stack.yaml")
    shutil.copytree(repo / "gitops" / "registry", target / "registry")
    return target


def scratch_secrets(repo: Path) -> dict[str, str]:
    """Every secret of the scratch stack under the env name the workflow reads it from."""
    return {
        "".join(c if c.isalnum() else "_" for c in path.name).upper(): path.read_text().strip()
        for path in sorted((repo / ".secrets").iterdir())
    }


def remove_scratch_project(client: docker.DockerClient) -> None:
    """Everything of project pipe2e (the scratch stack's own), so each run starts from empty:
    its containers, volumes and networks, the deploy guard's lock and record (pipeline
    labels, not gitops's) and the images tagged for its registry."""
    for label in (PROJECT_LABEL, GUARD_PROJECT_LABEL):
        for container in client.containers.list(all=True, filters={"label": f"{label}={PROJECT}"}):
            container.remove(force=True, v=True)  # v: the image's unmounted VOLUMEs too
    selector = {"label": f"{PROJECT_LABEL}={PROJECT}"}
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)
    for network in client.networks.list(filters=selector):
        network.remove()
    remove_repository_images(client, f"127.0.0.1:{REGISTRY_PORT}/")
