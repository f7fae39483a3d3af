"""RunnerPool compile on plain data: config.yml, .runner, registration commands, errors."""

from __future__ import annotations

import json
import uuid

import pytest
from kinds_helpers import container, context, errors, file, secret, step
from pydantic import ValidationError
from reconciler.kinds.forgejo import Forgejo
from reconciler.kinds.runners import RunnerPool, compile_runner_pool, parse_label
from reconciler.kinds.runners.render import TOKEN_PLACEHOLDER, identity
from reconciler.resources import DerivedSecret, GeneratedSecret, SecretRef
from ruamel.yaml import YAML


def load_yaml(text: str) -> dict:
    return YAML(typ="safe").load(text)


FORGEJO = {
    "kind": "Forgejo",
    "name": "forgejo",
    "root_url": "https://git.factory.example/",
    "admin": {"email": "admin@factory.example"},
}
POOL = {
    "kind": "RunnerPool",
    "name": "factory",
    "names": ["runner-a", "runner-b"],
    "labels": ["docker:docker://data.forgejo.org/oci/node:22-bookworm", "self-hosted:host"],
    "docker": {"mode": "socket", "socket_gid": 106},
}


def compile_pool(version: str = "11.0", **overrides: object):
    fj = Forgejo.model_validate({**FORGEJO, "version": version})
    pool = RunnerPool.model_validate({**POOL, **overrides})
    ctx = context("RunnerPool/factory", {"Forgejo/forgejo": fj})
    return compile_runner_pool(pool, ctx), ctx, pool


def test_runner_identity_uses_the_offline_uuid_rule() -> None:
    pool = RunnerPool.model_validate(POOL)
    who = identity(pool, "runner-a", "forgejo")
    assert len(who.secret_prefix) == 16
    assert who.uuid == str(uuid.UUID(bytes=who.secret_prefix.encode()))
    # the documented example: secret 7c31591e8b67225a… → 37633331-3539-3165-3862-363732323561
    assert str(uuid.UUID(bytes=b"7c31591e8b67225a")) == "37633331-3539-3165-3862-363732323561"
    assert identity(pool, "runner-b", "forgejo").uuid != who.uuid


def test_forgejo_14_gets_a_runner_file_and_static_config() -> None:
    result, ctx, pool = compile_pool("11.0")
    assert errors(ctx) == []
    spec = container(result, "runner-a")
    config = load_yaml(file(spec, "/etc/forgejo-runner/config.yml"))
    assert "server" not in config
    assert config["runner"]["file"] == "/data/.runner"
    assert config["runner"]["capacity"] == 1
    assert config["runner"]["labels"] == POOL["labels"]
    assert config["runner"]["envs"]["GITOPS_RUNNER_NAME"] == "runner-a"
    assert config["container"]["network"] == "factory_factory"
    assert config["container"]["docker_host"] == "automount"
    assert config["cache"] == {
        "enabled": True,
        "dir": "/data/.cache/actcache",
        "host": "runner-a",
        "port": 4000,
        "proxy_port": 4001,
    }
    dot_runner = json.loads(file(spec, "/etc/forgejo-runner/runner.json.template"))
    who = identity(pool, "runner-a", "forgejo")
    assert dot_runner["uuid"] == who.uuid
    assert dot_runner["token"] == who.secret_prefix + TOKEN_PLACEHOLDER
    assert dot_runner["address"] == "http://forgejo:3000/"
    assert dot_runner["labels"] == POOL["labels"]
    script = file(spec, "/etc/forgejo-runner/start.sh")
    assert "/etc/forgejo-runner/runner.json.template > /data/.runner" in script
    assert "forgejo-runner daemon --config /etc/forgejo-runner/config.yml" in script


def test_forgejo_15_declares_connections_in_the_config() -> None:
    result, _, pool = compile_pool("15")
    spec = container(result, "runner-b")
    targets = {f.target for f in spec.files}
    assert targets == {"/etc/forgejo-runner/config.yml.template", "/etc/forgejo-runner/start.sh"}
    config = load_yaml(file(spec, "/etc/forgejo-runner/config.yml.template"))
    who = identity(pool, "runner-b", "forgejo")
    assert config["server"]["connections"]["forgejo"] == {
        "url": "http://forgejo:3000/",
        "uuid": who.uuid,
        "token": who.secret_prefix + TOKEN_PLACEHOLDER,
    }
    assert "forgejo-runner daemon --config /data/config.yml" in file(
        spec, "/etc/forgejo-runner/start.sh"
    )


def test_no_secret_value_in_any_file_and_secret_is_a_derived_file() -> None:
    result, _, _ = compile_pool()
    spec = container(result, "runner-a")
    assert [(f.secret, f.target, f.uid) for f in spec.secret_files] == [
        ("runner-a-runner-secret", "/run/secrets/runner-a-runner-secret", 1000)
    ]
    derived = secret(result, "runner-a-runner-secret").generate
    assert derived == DerivedSecret(
        from_secret="runner-registration-secret",
        context="forgejo-runner:forgejo:runner-a",
        length=24,
    )
    base = secret(result, "runner-registration-secret").generate
    assert isinstance(base, GeneratedSecret)
    assert base.alphabet == "hex"


def test_host_socket_adds_the_socket_group_and_mount() -> None:
    result, _, _ = compile_pool()
    spec = container(result, "runner-a")
    assert spec.group_add == ("106",)
    assert any(m.bind == "/var/run/docker.sock" for m in spec.mounts)
    assert any(m.volume == "runner-a-data" and m.target == "/data" for m in spec.mounts)
    assert spec.depends_on == ("forgejo",)
    assert spec.replace is not None
    assert spec.replace.defer_on_runner == "runner-a"


def test_socket_group_defaults_to_the_symbol_resolved_by_the_docker_provider() -> None:
    result, _, _ = compile_pool(docker={"mode": "socket"})
    assert container(result, "runner-a").group_add == ("docker-socket",)


def test_dind_sidecar_is_reached_over_tls_with_certificates_only_runners_mount() -> None:
    result, ctx, _ = compile_pool(docker={"mode": "dind"})
    assert errors(ctx) == []
    dind = container(result, "factory-dind")
    assert dind.privileged
    # the image's entrypoint (no command) generates the certs and listens on 2376, TLS only
    assert dind.command is None
    assert dind.env == {"DOCKER_TLS_CERTDIR": "/certs"}
    assert dind.hostname == "factory-dind"  # in the server certificate's SAN
    assert {(m.target, m.volume, m.read_only) for m in dind.mounts} == {
        ("/var/lib/docker", "factory-dind-storage", False),
        ("/certs", "factory-dind-certs", False),
    }
    runner = container(result, "runner-a")
    assert runner.env == {
        "DOCKER_HOST": "tcp://factory-dind:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": "/certs/client",
    }
    assert ("/certs", "factory-dind-certs", True) in {
        (m.target, m.volume, m.read_only) for m in runner.mounts
    }
    assert not any(m.bind for m in runner.mounts)  # no host socket in DinD mode
    assert runner.group_add == ()
    assert runner.depends_on == ("forgejo", "factory-dind")
    volumes = {v.name for v in result.volumes}
    assert {"factory-dind-storage", "factory-dind-certs"} <= volumes
    config = load_yaml(file(runner, "/etc/forgejo-runner/config.yml"))
    assert config["container"]["docker_host"] == "tcp://factory-dind:2376"
    # jobs are created inside DinD: they share its namespace, which is on the stack network
    assert config["container"]["network"] == "host"
    # and get DinD's own socket (a bind path DinD resolves), not the host's
    assert config["runner"]["envs"]["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert config["container"]["options"] == "-v /var/run/docker.sock:/var/run/docker.sock"
    assert config["container"]["valid_volumes"] == ["/var/run/docker.sock"]
    assert config["cache"]["host"] == "runner-a"


def test_dind_jobs_without_docker_get_no_socket() -> None:
    result, _, _ = compile_pool(docker={"mode": "dind", "jobs_get_docker": False})
    config = load_yaml(file(container(result, "runner-a"), "/etc/forgejo-runner/config.yml"))
    assert "DOCKER_HOST" not in config["runner"]["envs"]
    assert config["container"]["options"] == ""
    assert config["container"]["valid_volumes"] == []


def test_host_job_network_puts_jobs_and_cache_on_the_hosts_loopback() -> None:
    result, ctx, _ = compile_pool(names=["engine-1"], job_network="host")
    assert errors(ctx) == []
    runner = container(result, "engine-1")
    config = load_yaml(file(runner, "/etc/forgejo-runner/config.yml"))
    assert config["container"]["network"] == "host"
    assert config["cache"]["host"] == "127.0.0.1"
    assert [(p.host_ip, p.host_port, p.container_port) for p in runner.ports] == [
        ("127.0.0.1", 4000, 4000),
        ("127.0.0.1", 4001, 4001),
    ]


def test_host_job_network_with_several_runners_and_a_cache_is_an_error() -> None:
    _, ctx, _ = compile_pool(job_network="host")
    [(path, message, fix)] = errors(ctx)
    assert path == "job_network"
    assert "2 runners" in message
    assert "one runner per pool" in fix
    uncached, ctx, _ = compile_pool(job_network="host", cache={"enabled": False})
    assert errors(ctx) == []
    assert container(uncached, "runner-a").ports == ()


def test_stack_job_network_is_the_stack_network_and_publishes_nothing() -> None:
    result, _, _ = compile_pool()
    runner = container(result, "runner-a")
    assert runner.ports == ()
    config = load_yaml(file(runner, "/etc/forgejo-runner/config.yml"))
    assert config["container"]["network"] == "factory_factory"
    assert config["cache"]["host"] == "runner-a"


def test_registration_runs_in_forgejo_with_secret_on_stdin() -> None:
    result, _, pool = compile_pool(scope="factory/chocolate")
    register = step(result, "factory:register:runner-a")
    assert register.container == "forgejo"
    assert register.env == {"RUNNER_SECRET_TAIL": SecretRef(secret="runner-a-runner-secret")}
    script = register.command[2]
    assert "forgejo forgejo-cli actions register --secret-stdin" in script
    assert "--keep-labels" in script
    assert '--scope "$3"' in script
    who = identity(pool, "runner-a", "forgejo")
    assert register.command[3:8] == (
        who.secret_prefix,
        "runner-a",
        "docker,self-hosted",
        "factory/chocolate",
        "factory",
    )
    assert register.probe is not None
    assert register.probe[0:2] == ("sh", "-c")
    instance = step(compile_pool()[0], "factory:register:runner-a")
    assert "--scope" not in instance.command[2]


def test_prune_runs_after_every_registration_and_knows_the_declared_names() -> None:
    result, _, _ = compile_pool()
    prune = step(result, "factory:prune")
    assert prune.after == ("factory:register:runner-a", "factory:register:runner-b")
    assert prune.command[3:] == ("factory", "runner-a", "runner-b")
    assert prune.probe is not None
    assert prune.probe[3:] == ("factory", "runner-a", "runner-b")


def test_count_names_runners_after_the_pool() -> None:
    result, _, _ = compile_pool(names=None, count=3)
    assert sorted(c.name for c in result.containers) == ["factory-1", "factory-2", "factory-3"]


def test_compile_is_deterministic() -> None:
    assert compile_pool()[0] == compile_pool()[0]


def test_pool_pointing_at_an_undeclared_forgejo_is_an_error_at_its_line() -> None:
    pool = RunnerPool.model_validate({**POOL, "forgejo": "git"})
    ctx = context("RunnerPool/factory", {"Forgejo/forgejo": Forgejo.model_validate(FORGEJO)})
    assert compile_runner_pool(pool, ctx).containers == ()
    [diagnostic] = ctx.diagnostics
    assert diagnostic.path == "forgejo"
    assert "no Forgejo named 'git'" in diagnostic.message
    assert diagnostic.fix == "set forgejo: to one of ['forgejo']"
    assert str(diagnostic.location) == "gitops/runnerpool.yaml:2:1"


def test_unknown_label_scheme_is_an_error_at_the_label() -> None:
    _, ctx, _ = compile_pool(labels=["docker:docker://node:22", "gpu:kvm://x", "bare"])
    assert [(p[0], p[1]) for p in errors(ctx)] == [
        ("labels[1]", "label 'gpu:kvm://x': unknown scheme 'kvm'"),
        (
            "labels[2]",
            "label 'bare' has no scheme (the runner would pick docker://node:22-bookworm)",
        ),
    ]
    assert all("NAME:docker://IMAGE" in p[2] for p in errors(ctx))


@pytest.mark.parametrize(
    ("label", "parsed"),
    [
        (
            "ubuntu-latest:docker://node:20-bookworm",
            ("ubuntu-latest", "docker", "node:20-bookworm"),
        ),
        ("self-hosted:host", ("self-hosted", "host", None)),
        ("bookworm:lxc://debian:bookworm", ("bookworm", "lxc", "debian:bookworm")),
    ],
)
def test_parse_label(label: str, parsed: tuple) -> None:
    assert parse_label(label) == parsed


@pytest.mark.parametrize("label", ["x:host://img", "x:docker", "x:docker://", ":docker://a"])
def test_parse_label_refuses(label: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_label(label)


@pytest.mark.parametrize(
    "overrides",
    [
        {"count": 2},  # names and count together
        {"names": ["a", "a"]},
        {"docker": {"mode": "socket", "socket_gid": "docker"}},  # a name, not docker-socket
        {"docker": {"mode": "socket", "socket_gid": -1}},
        {"scope": "a/b/c"},
        {"timeout": "three hours"},
        {"envs": {"1BAD": "x"}},
    ],
)
def test_bad_pools_are_refused(overrides: dict) -> None:
    with pytest.raises(ValidationError):
        RunnerPool.model_validate({**POOL, **overrides})
