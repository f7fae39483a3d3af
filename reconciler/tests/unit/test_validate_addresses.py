"""Where a port is published is an IP address someone wrote down, never a guess.

Every place that takes a host address (stack `defaults.publish_ip`, a service port's `ip:`
and its "IP:HOST:CONTAINER" short form) accepts IPv4 and IPv6 addresses only: a name such
as `localhost` made Docker publish on 0.0.0.0 and [::], and `300.1.1.1` was accepted.
Every host port (services, Forgejo, the registry, runner caches, sidecars) is 1-65535.
Runs the real loader and validator on files, as `gitops validate` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reconciler.addresses import exposed_ports
from reconciler.cli import run
from reconciler.errors import ConfigError
from reconciler.project import load_project

from .helpers import write_tree

FORGEJO = (
    "kind: Forgejo\nname: forgejo\nroot_url: https://git.example/\nadmin: {email: a@example.org}\n"
)
REGISTRY = "kind: Registry\nname: registry\nusers: [{name: ci, password_secret: ci-pw}]\n"


def stack(publish_ip: str) -> str:
    return f"kind: Stack\nproject: demo\nnetwork: net\ndefaults:\n  publish_ip: {publish_ip}\n"


def service(ports: str) -> str:
    return f"kind: Service\nname: web\nimage: x:1\nports:\n  - {ports}\n"


def problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project(write_tree(tmp_path, files))
    return [str(d) for d in caught.value.diagnostics]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost", "'localhost' is not an IP address (fix: write 127.0.0.1"),
        ("'300.1.1.1'", "'300.1.1.1' is not an IP address"),
        ("'127.0.0'", "'127.0.0' is not an IP address"),
        ("''", "'' is not an IP address"),
        ("my-laptop.lan", "'my-laptop.lan' is not an IP address"),
        ("'[::1]'", "'[::1]' is not an IP address (fix: write ::1 without brackets"),
        ("'127.0.0.1/8'", "'127.0.0.1/8' is not an IP address"),
    ],
)
def test_publish_ip_must_be_an_ip_address(tmp_path: Path, value: str, expected: str) -> None:
    # Forgejo and the registry publish on the stack's publish_ip: the one error is there
    found = problems(
        tmp_path,
        {
            "stack.yaml": stack(value),
            "forgejo/forgejo.yaml": FORGEJO,
            "registry/registry.yaml": REGISTRY,
        },
    )
    assert len(found) == 1, found
    assert found[0].startswith("gitops/stack.yaml:5:15: defaults.publish_ip: "), found
    assert expected in found[0], found


@pytest.mark.parametrize(
    ("short", "expected"),
    [
        ("'300.1.1.1:8100:8000'", "'300.1.1.1' is not an IP address"),
        ("'localhost:8100:8000'", "'localhost' is not an IP address (fix: write 127.0.0.1"),
        ("'::1:8100:8000'", "write an IPv6 address in brackets: [::1]:8100:8000"),
        ("'70000:8000'", "host port 70000 is out of range (1-65535)"),
        ("'8100:0'", "container port 0 is out of range (1-65535)"),
        ("'0:8000'", "host port 0 is out of range (1-65535)"),
        ("'8100:8000/sctp'", "protocol 'sctp' is not tcp or udp"),
        ("'8100-8101:8000-8001'", "port ranges are not supported"),
        ("'8100:8000:9000:1'", 'expected "[IP:]HOST:CONTAINER[/tcp|udp]"'),
        ("'3000'", 'expected "[IP:]HOST:CONTAINER[/tcp|udp]" or a mapping, got "3000"'),
        ("'[::1:8100:8000'", "'[::1' is not an IP address"),
        ("' :8100:8000'", "is not an IP address"),
        ("'\uff18\uff11\uff10\uff10:8000'", "host port '\uff18\uff11\uff10\uff10' is not a number"),
        ("'http:8000'", "host port 'http' is not a number"),
    ],
)
def test_port_short_form_is_parsed_strictly(tmp_path: Path, short: str, expected: str) -> None:
    found = problems(tmp_path, {"services/web.yaml": service(short)})
    assert len(found) == 1, found
    assert found[0].startswith("gitops/services/web.yaml:5:5: ports[0]: "), found
    assert expected in found[0], found


@pytest.mark.parametrize(
    ("mapping", "path", "expected"),
    [
        ("{host: 8100, container: 8000, ip: localhost}", "ports[0].ip", "write 127.0.0.1"),
        ("{host: 8100, container: 8000, ip: '300.1.1.1'}", "ports[0].ip", "not an IP address"),
        ("{host: 8100, container: 8000, ip: ''}", "ports[0].ip", "not an IP address"),
        ("{host: 65536, container: 8000}", "ports[0].host", "less than or equal to 65535"),
        ("{host: 8100, container: 0}", "ports[0].container", "greater than or equal to 1"),
    ],
)
def test_port_mapping_form_is_validated(
    tmp_path: Path, mapping: str, path: str, expected: str
) -> None:
    found = problems(tmp_path, {"services/web.yaml": service(mapping)})
    assert len(found) == 1, found
    assert f": {path}: " in found[0], found
    assert expected in found[0], found


@pytest.mark.parametrize(
    ("files", "path"),
    [
        ({"forgejo/forgejo.yaml": FORGEJO + "ports: {http: 70000}\n"}, "ports.http"),
        ({"forgejo/forgejo.yaml": FORGEJO + "ports: {ssh: 0}\n"}, "ports.ssh"),
        ({"registry/registry.yaml": REGISTRY + "port: 99999\n"}, "port"),
    ],
)
def test_kind_host_ports_are_range_checked(
    tmp_path: Path, files: dict[str, str], path: str
) -> None:
    found = problems(tmp_path, files)
    assert len(found) == 1, found
    assert f": {path}: Input should be" in found[0], found


def test_valid_addresses_are_kept_canonical(tmp_path: Path) -> None:
    gitops = write_tree(
        tmp_path,
        {
            "services/a.yaml": "kind: Service\nname: a\nimage: x:1\nports: ['[::1]:8100:8000']\n",
            "services/b.yaml": (
                "kind: Service\nname: b\nimage: x:1\n"
                "ports: [{host: 8101, container: 8000, ip: '0:0:0:0:0:0:0:1', protocol: udp}]\n"
            ),
            "services/c.yaml": "kind: Service\nname: c\nimage: x:1\nports: ['8102:8000/udp']\n",
        },
    )
    ports = {c.name: c.ports[0] for c in load_project(gitops).desired.containers}
    assert (ports["a"].host_ip, ports["a"].host_port, ports["a"].container_port) == (
        "::1",
        8100,
        8000,
    )
    assert (ports["b"].host_ip, ports["b"].protocol) == ("::1", "udp")
    assert (ports["c"].host_ip, ports["c"].protocol) == ("127.0.0.1", "udp")
    assert exposed_ports(load_project(gitops).desired) == []


def test_all_interfaces_only_when_written_and_then_listed(tmp_path: Path) -> None:
    gitops = write_tree(
        tmp_path,
        {
            "stack.yaml": stack("0.0.0.0"),
            "forgejo/forgejo.yaml": FORGEJO,
            "services/a.yaml": service("'127.0.0.1:8100:8000'"),
            "services/b.yaml": service("'[::]:8101:8000'").replace("name: web", "name: b"),
            "services/c.yaml": service("'192.168.1.20:8102:8000'").replace("name: web", "name: c"),
        },
    )
    exposed = exposed_ports(load_project(gitops).desired)
    text = "\n".join(exposed)
    # Forgejo follows the stack default, written explicitly as 0.0.0.0: both ports listed
    assert "container forgejo: 0.0.0.0:3000 -> 3000/tcp is published on all interfaces" in text
    assert "container forgejo: 0.0.0.0:2222 -> 2222/tcp is published on all interfaces" in text
    assert "container b: [::]:8101 -> 8000/tcp is published on all interfaces" in text
    assert "container c: 192.168.1.20:8102 -> 8000/tcp is published on 192.168.1.20" in text
    assert "container web" not in text  # 127.0.0.1 is loopback
    assert all("gitops/" in line for line in exposed)  # each says where it is declared
    assert len(exposed) == 4


def test_unspecified_address_clashes_with_every_address_of_its_family(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "services/a.yaml": "kind: Service\nname: a\nimage: x:1\nports: ['[::]:8100:80']\n",
            "services/b.yaml": "kind: Service\nname: b\nimage: x:1\nports: ['[::1]:8100:80']\n",
        },
    )
    assert len(found) == 1, found
    assert "host port ::1:8100/tcp is also published by 'a'" in found[0], found


def test_validate_cli_reports_the_address_with_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops = write_tree(tmp_path, {"stack.yaml": stack("localhost")})
    assert run(["--dir", str(gitops), "validate"], environ={}) == 1
    err = capsys.readouterr().err
    assert "gitops/stack.yaml:5:15: defaults.publish_ip: 'localhost' is not an IP address" in err
    assert "write 127.0.0.1" in err


def test_no_port_spec_reaches_the_engine_with_a_name() -> None:
    # the generic resource every kind compiles to refuses it too (a kind's bug, not YAML)
    from pydantic import ValidationError
    from reconciler.resources import PortSpec

    with pytest.raises(ValidationError, match="'localhost' is not an IP address"):
        PortSpec(host_ip="localhost", host_port=1, container_port=1)
    assert PortSpec(host_ip="::0001", host_port=1, container_port=1).host_ip == "::1"


def test_host_network_is_listed_as_exposure(tmp_path: Path) -> None:
    gitops = write_tree(
        tmp_path, {"services/h.yaml": "kind: Service\nname: h\nimage: x:1\nnetwork_mode: host\n"}
    )
    (line,) = exposed_ports(load_project(gitops).desired)
    assert line.startswith("container h: network_mode host: every port it listens on is on all")


def test_exposure_notes_print_ipv6_addresses_whole(tmp_path: Path) -> None:
    # "[fd00::1]" looks like a rich markup tag: the human plan must still show it
    from reconciler.actions import Plan
    from reconciler.render import render_plan
    from rich.console import Console

    gitops = write_tree(tmp_path, {"services/web.yaml": service("'[fd00::1]:8100:8000'")})
    notes = tuple(f"exposure: {line}" for line in exposed_ports(load_project(gitops).desired))
    console = Console(record=True, width=200)
    render_plan(Plan(project="demo", notes=notes), console)
    text = console.export_text()
    assert "container web: [fd00::1]:8100 -> 8000/tcp is published on fd00::1" in text
