"""`gitops apply` against Ansible's community.docker.docker_container, converging the same
10-container stack on the same engine in the same run.

    python bench/ansible_bench.py [--runs 5] [--write]

Both sides declare the same ten services (the reconciler's test web image built from the
offline base, env, a published loopback port, a healthcheck, restart policy, memory limit,
labels, one shared network) and both wait for health (`state: healthy` for Ansible; gitops
gates every replacement on health). Each side gets its own project and ports, so they never
touch each other's containers. Measured, as a person runs them (CLI in a subprocess):

- no-op: the stack already matches; 5 runs each, alternating.
- one-service change: svc-0's VERSION env flips each run, so each run recreates exactly one
  container (checked: the other nine keep their IDs); 5 runs each, alternating.

Medians and the ratio gitops/ansible; targets (issue 2): no-op ≤ 0.25, change ≤ 0.5.
`--write` replaces this benchmark's section of bench/RESULTS.md. Cleans up after itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors
from results import report

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
START = "<!-- bench:ansible:start -->"
END = "<!-- bench:ansible:end -->"
IMAGE_DIR = REPO / "reconciler" / "tests" / "integration" / "image"
IMAGE = "chocolate-factory/gitops-bench-web:1"
BASE_IMAGE = "chocolate-factory/base:bookworm"
SERVICES = 10
GITOPS_PROJECT = "benchcore-gitops"
ANSIBLE_PREFIX = "benchcore-ansible"
ANSIBLE_LABEL = "dev.chocolate-factory.bench"
GITOPS_PORT = 18100
ANSIBLE_PORT = 18120
HEALTH = [
    "CMD",
    "python3",
    "-c",
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5)",
]


def build_image(client: docker.DockerClient) -> None:
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        client.images.build(
            path=str(IMAGE_DIR), tag=IMAGE, buildargs={"BASE_IMAGE": BASE_IMAGE}, rm=True
        )


def write_gitops(directory: Path, version_0: str) -> None:
    (directory / "services").mkdir(parents=True, exist_ok=True)
    (directory / "stack.yaml").write_text(
        textwrap.dedent(
            f"""
            kind: Stack
            project: {GITOPS_PROJECT}
            network: bench
            defaults: {{restart: unless-stopped, stop_timeout: 2}}
            """
        ).lstrip()
    )
    for index in range(SERVICES):
        version = version_0 if index == 0 else "1"
        (directory / "services" / f"svc-{index}.yaml").write_text(
            textwrap.dedent(
                f"""
                kind: Service
                name: svc-{index}
                image: {IMAGE}
                env: {{VERSION: "{version}", ROLE: bench}}
                ports: ["127.0.0.1:{GITOPS_PORT + index}:8000"]
                labels: {{dev.chocolate-factory.bench: gitops}}
                healthcheck:
                  command: {json.dumps(HEALTH[1:])}
                  interval: 0.5
                  timeout: 5
                  retries: 3
                resources: {{memory: 64m}}
                """
            ).lstrip()
        )


def write_playbook(path: Path, version_0: str) -> None:
    """The same stack as an Ansible play (JSON is YAML, so no templating pitfalls)."""
    container = {
        "name": ANSIBLE_PREFIX + "-{{ item.name }}",
        "image": IMAGE,
        "state": "healthy",
        "healthy_wait_timeout": 120,
        "restart_policy": "unless-stopped",
        "stop_timeout": 2,
        "memory": "64m",
        "env": {"VERSION": "{{ item.version }}", "ROLE": "bench"},
        "labels": {ANSIBLE_LABEL: "ansible"},
        "published_ports": ["127.0.0.1:{{ item.port }}:8000"],
        "networks": [{"name": f"{ANSIBLE_PREFIX}_bench", "aliases": ["{{ item.name }}"]}],
        "networks_cli_compatible": True,
        "healthcheck": {"test": HEALTH, "interval": "500ms", "timeout": "5s", "retries": 3},
    }
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {
            "services": [
                {
                    "name": f"svc-{i}",
                    "port": ANSIBLE_PORT + i,
                    "version": version_0 if i == 0 else "1",
                }
                for i in range(SERVICES)
            ]
        },
        "tasks": [
            {
                "name": "network",
                "community.docker.docker_network": {
                    "name": f"{ANSIBLE_PREFIX}_bench",
                    "labels": {ANSIBLE_LABEL: "ansible"},
                },
            },
            {
                "name": "services",
                "loop": "{{ services }}",
                "community.docker.docker_container": container,
            },
        ],
    }
    path.write_text(json.dumps([play], indent=2))


def gitops_apply(directory: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "--dir", str(directory), "apply", "--yes"],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"gitops apply failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def ansible_apply(playbook: Path) -> float:
    binary = Path(sys.executable).parent / "ansible-playbook"
    env = {
        **os.environ,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_NOCOLOR": "1",
    }
    start = time.perf_counter()
    done = subprocess.run(
        [str(binary), "-i", "localhost,", str(playbook)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{done.stdout[-3000:]}\n{done.stderr}")
    return elapsed


def ids(client: docker.DockerClient, label_value: str) -> dict[str, str]:
    found = client.containers.list(all=True, filters={"label": f"{ANSIBLE_LABEL}={label_value}"})
    return {c.name: c.id for c in found}


def cleanup(client: docker.DockerClient) -> None:
    for value in ("gitops", "ansible"):
        for container in client.containers.list(
            all=True, filters={"label": f"{ANSIBLE_LABEL}={value}"}
        ):
            container.remove(force=True)
    for network in client.networks.list(
        names=[f"{ANSIBLE_PREFIX}_bench", f"{GITOPS_PROJECT}_bench"]
    ):
        network.remove()


def check_one_recreated(before: dict[str, str], after: dict[str, str], side: str) -> None:
    changed = sorted(n for n in before if before[n] != after.get(n))
    if len(changed) != 1 or not changed[0].endswith("svc-0"):
        raise SystemExit(f"{side}: expected only svc-0 to be recreated, got {changed}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    client = docker.from_env()
    load_before = os.getloadavg()[0]
    build_image(client)
    cleanup(client)
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-"))
    gitops_dir = work / "gitops"
    playbook = work / "playbook.yml"
    noop = {"gitops": [], "ansible": []}
    change = {"gitops": [], "ansible": []}
    try:
        write_gitops(gitops_dir, "1")
        write_playbook(playbook, "1")
        first_gitops = gitops_apply(gitops_dir)
        first_ansible = ansible_apply(playbook)
        for _ in range(args.runs):
            noop["gitops"].append(gitops_apply(gitops_dir))
            noop["ansible"].append(ansible_apply(playbook))
        for run in range(args.runs):
            version = str(run + 2)
            write_gitops(gitops_dir, version)
            before = ids(client, "gitops")
            change["gitops"].append(gitops_apply(gitops_dir))
            check_one_recreated(before, ids(client, "gitops"), "gitops")
            write_playbook(playbook, version)
            before = ids(client, "ansible")
            change["ansible"].append(ansible_apply(playbook))
            check_one_recreated(before, ids(client, "ansible"), "ansible")
    finally:
        cleanup(client)
        shutil.rmtree(work, ignore_errors=True)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    load_after = os.getloadavg()[0]
    ratio_noop = med(noop["gitops"]) / med(noop["ansible"])
    ratio_change = med(change["gitops"]) / med(change["ansible"])
    ansible_version = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()[0]

    def row(name: str, data: dict[str, list[float]], ratio: float, target: float) -> str:
        runs = ", ".join(f"{v:.2f}" for v in data["gitops"])
        peer = ", ".join(f"{v:.2f}" for v in data["ansible"])
        verdict = "met" if ratio <= target else "NOT met"
        return (
            f"| {name} | **{med(data['gitops']):.2f}** ({runs}) | {med(data['ansible']):.2f} "
            f"({peer}) | **{ratio:.2f}** | ≤ {target} ({verdict}) |"
        )

    section = "\n".join(
        [
            START,
            "## gitops apply vs Ansible docker_container (10-container stack)",
            "",
            f"Command: `nox -s bench -- ansible` (runs `python bench/ansible_bench.py --runs "
            f"{args.runs} --write`). {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{ansible_version} (community.docker.docker_container, `state: healthy`); "
            f"1-minute load average {load_before:.1f} at the start, {load_after:.1f} at the end "
            "(a shared machine: absolute times vary with it, the ratio much less).",
            "",
            "Same ten containers on both sides (env, loopback port, healthcheck every 0.5 s, "
            "restart policy, 64 MiB memory limit, labels, one network), CLI run in a subprocess "
            "as a person would, alternating sides. Seconds, median of "
            f"{args.runs} runs (all runs in parentheses).",
            "",
            "| scenario | gitops apply | ansible-playbook | ratio | target |",
            "|---|---|---|---|---|",
            row("no-op (stack already converged)", noop, ratio_noop, 0.25),
            row(
                "one-service change (svc-0 env, recreated, health-gated)", change, ratio_change, 0.5
            ),
            "",
            f"First convergence from an empty engine (one run, not a target): gitops "
            f"{first_gitops:.2f} s, Ansible {first_ansible:.2f} s. In every change run only "
            "svc-0 got a new container ID on both sides (checked).",
            END,
        ]
    )
    report(section, START, END, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
