"""A port published beyond loopback is said in every plan, human and --json, port by port,
whether or not anything changes: exposure is a decision the reader must see. Plans only
(against the real engine): nothing is published on a non-loopback address here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from .conftest import Stack, cleanup_project, make_stack

pytestmark = pytest.mark.docker


@pytest.fixture
def stack(tmp_path: Path, test_image: str, docker_client: docker.DockerClient) -> Iterator[Stack]:
    made = make_stack(tmp_path, test_image, "exposure")
    yield made
    cleanup_project(docker_client, made.project)


def test_plan_says_which_ports_are_published_on_all_interfaces(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.write(
        "services/open.yaml",
        f"""
        kind: Service
        name: open
        image: {stack.image}
        ports:
          - 0.0.0.0:18931:8000
          - "[::]:18932:8000"
          - {{host: 18933, container: 8001, ip: 127.0.0.1}}
        """,
    )
    stack.write(
        "services/quiet.yaml",
        f"kind: Service\nname: quiet\nimage: {stack.image}\nports: ['18934:8000']\n",
    )
    result = stack.gitops_cli(capsys, "plan", "--json")
    assert result.code == 2, result.out
    notes = json.loads(result.out[result.out.index("{") :])["notes"]
    exposed = [n for n in notes if "published on" in n]
    assert len(exposed) == 2, notes
    assert any(
        "container open: 0.0.0.0:18931 -> 8000/tcp is published on all interfaces" in n
        and "gitops/services/open.yaml" in n
        for n in exposed
    ), exposed
    assert any("[::]:18932 -> 8000/tcp is published on all interfaces" in n for n in exposed)

    human = stack.gitops_cli(capsys, "plan")
    assert human.code == 2, human.out
    flat = " ".join(human.out.split())
    assert "container open: 0.0.0.0:18931 -> 8000/tcp is published on all interfaces" in flat
    assert "[::]:18932 -> 8000/tcp is published on all interfaces" in flat
    assert flat.count("published on") == 2  # not the loopback ports 18933 and 18934


def test_loopback_only_stack_has_no_exposure_note(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.write(
        "services/quiet.yaml",
        f"kind: Service\nname: quiet\nimage: {stack.image}\nports: ['18935:8000']\n",
    )
    result = stack.gitops_cli(capsys, "plan", "--json")
    assert result.code == 2, result.out
    notes = json.loads(result.out[result.out.index("{") :])["notes"]
    assert not [n for n in notes if "published on" in n], notes
