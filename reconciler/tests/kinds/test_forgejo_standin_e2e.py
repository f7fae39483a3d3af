"""Forgejo and its runners through `gitops apply`, against STAND-IN images on the real engine.

Forgejo and forgejo-runner cannot run here, so the containers are the stand-ins in
images/standins/ (they record every command and emulate the documented behaviour); the
engine, the reconciler, the exec'd commands and the files are all real. The same flow runs
against the upstream images with `just e2e-real` (test_forgejo_real_e2e.py).

The tests run in order on one deployment: bootstrap → idempotence → self-update safety →
removing a runner → a version bump of a stopped Forgejo (started for the backup, then
recreated, runners switch flow) → a failed upgrade (the old container kept, stopped) → a
refused downgrade.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time

import docker
import pytest
from kinds_images import forgejo_standin, runner_standin
from kinds_stack import GitopsStack, docker_health
from reconciler.kinds.runners import RunnerPool
from reconciler.kinds.runners.render import identity
from reconciler.providers.docker.oneshot import run_once

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

HTTP_PORT = 18520
SSH_PORT = 18521
SOCKET = "/var/run/docker.sock"


def forgejo_yaml(version: str) -> str:
    return f"""kind: Forgejo
name: forgejo
image: chocolate-factory/forgejo-standin
version: "{version}"
root_url: http://127.0.0.1:{HTTP_PORT}/
ports:
  http: {HTTP_PORT}
  ssh: {SSH_PORT}
admin:
  username: factory-admin
  email: admin@factory.example
app_ini:
  APP_NAME: Chocolate Factory
  log.console:
    LEVEL: warn
health_timeout: 60
"""


def runners_yaml(names: list[str], capacity: int = 1) -> str:
    return f"""kind: RunnerPool
name: factory
forgejo: forgejo
image: chocolate-factory/forgejo-runner-standin:12
names: [{", ".join(names)}]
labels:
  - docker:docker://data.forgejo.org/oci/node:22-bookworm
  - self-hosted:host
capacity: {capacity}
docker:
  mode: socket
  socket: {SOCKET}
  socket_gid: {os.stat(SOCKET).st_gid}
"""


def pool(names: list[str]) -> RunnerPool:
    from ruamel.yaml import YAML

    return RunnerPool.model_validate(YAML(typ="safe").load(runners_yaml(names)))


def read(container, path: str) -> str:
    result = container.exec_run(["cat", path], user="0")
    assert result.exit_code == 0, result.output
    return result.output.decode()


def commands(container) -> list[list[str]]:
    text = read(container, "/var/lib/gitea/standin/commands.jsonl")
    return [json.loads(line)["argv"] for line in text.splitlines()]


def db(container) -> dict:
    return json.loads(read(container, "/var/lib/gitea/data/gitea.db"))


def status(container, want: str = "declared", timeout: float = 30.0) -> dict:
    """The runner stand-in's view once it reached `want` (its start script retries every
    few seconds while the server-side registration, a later bootstrap step, is pending)."""
    deadline = time.monotonic() + timeout
    while True:
        result = container.exec_run(["cat", "/data/.standin/status.json"], user="0")
        seen = json.loads(result.output) if result.exit_code == 0 else {}
        if seen.get("state") == want or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def matching(argvs: list[list[str]], *words: str) -> list[list[str]]:
    return [argv for argv in argvs if all(word in argv for word in words)]


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker.from_env()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, client: docker.DockerClient):
    for version in ("11.0", "15"):
        forgejo_standin(client, version)
    forgejo_standin(client, "16", broken=True)
    runner_standin(client)
    stack = GitopsStack(tmp_path_factory.mktemp("forgejo"))
    stack.write_stack()
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("11.0"))
    stack.write("runners/runners.yaml", runners_yaml(["r-a", "r-b"]))
    try:  # a setup apply that fails (a port taken) still removes what it created
        stack.apply()
        yield stack
    finally:
        stack.cleanup(client)


def test_forgejo_is_healthy_with_pinned_settings_and_no_secret_in_env(stack, client) -> None:
    forgejo = stack.container(client, "forgejo")
    assert docker_health(forgejo) == "healthy"
    assert forgejo.attrs["Config"]["User"] == "1000:1000"
    app_ini = read(forgejo, "/var/lib/gitea/custom/conf/app.ini")
    secret_key = stack.secret("forgejo-secret-key")
    assert f"SECRET_KEY = {secret_key}" in app_ini
    assert f"INTERNAL_TOKEN = {stack.secret('forgejo-internal-token')}" in app_ini
    for line in (
        "INSTALL_LOCK = true",
        f"ROOT_URL = http://127.0.0.1:{HTTP_PORT}/",
        "DISABLE_REGISTRATION = true",
        "DEFAULT_ACTIONS_URL = https://data.forgejo.org",
        "APP_NAME = Chocolate Factory",
    ):
        assert line in app_ini
    assert "[log.console]" in app_ini
    env = " ".join(forgejo.attrs["Config"]["Env"])
    assert secret_key not in env
    assert "FORGEJO__SECURITY__SECRET_KEY__FILE=/run/secrets/forgejo-secret-key" in env


def test_admin_is_listed_first_then_created_once(stack, client) -> None:
    forgejo = stack.container(client, "forgejo")
    argvs = commands(forgejo)
    listed = argvs.index(["forgejo", "admin", "user", "list", "--admin"])
    [create] = matching(argvs, "create", "--admin")
    assert argvs.index(create) > listed
    assert create[create.index("--username") + 1] == "factory-admin"
    assert create[create.index("--password") + 1].startswith("sha256:")  # recorded redacted
    assert "--must-change-password=false" in create
    password = stack.secret("forgejo-admin-password")
    user = db(forgejo)["users"]["factory-admin"]
    assert user["admin"]
    assert user["password_sha256"] == hashlib.sha256(password.encode()).hexdigest()


def test_automation_token_is_captured_into_a_secret(stack, client) -> None:
    token = stack.secret("forgejo-automation-token")
    assert re.fullmatch(r"[0-9a-f]{40}", token)
    tokens = db(stack.container(client, "forgejo"))["tokens"]
    assert tokens["factory-admin/gitops-automation"]["sha256"] == (
        hashlib.sha256(token.encode()).hexdigest()
    )
    assert (stack.secrets / "forgejo-automation-token").stat().st_mode & 0o077 == 0


def test_backup_volume_is_writable_by_forgejo(stack, client) -> None:
    forgejo = stack.container(client, "forgejo")
    owner = forgejo.exec_run(["stat", "-c", "%u", "/var/lib/gitea-backups"]).output.decode()
    assert owner.strip() == "1000"


def test_runners_are_registered_offline_and_declared(stack, client) -> None:
    forgejo = stack.container(client, "forgejo")
    runners = db(forgejo)["runners"]
    expected = {identity(pool(["r-a", "r-b"]), n, "forgejo").uuid: n for n in ("r-a", "r-b")}
    assert {uuid: r["name"] for uuid, r in runners.items()} == expected
    registrations = matching(commands(forgejo), "forgejo-cli", "register")
    assert len(registrations) == 2
    for argv in registrations:
        assert "--secret-stdin" in argv
        assert "--keep-labels" in argv
        assert argv[argv.index("--labels") + 1] == "docker,self-hosted"
        assert not any(re.fullmatch(r"[0-9a-f]{40}", arg) for arg in argv)
    gid = os.stat(SOCKET).st_gid
    for name in ("r-a", "r-b"):
        seen = status(stack.container(client, name))
        assert seen["state"] == "declared"
        assert seen["source"] == "/data/.runner"
        assert seen["docker"] == "ok"  # UID 1000 reaches the socket through the added group
        assert gid in seen["groups"]
        assert seen["network"] == f"{stack.project}_factory"
        assert seen["cache"]["host"] == name
        assert seen["cache"]["port"] == 4000
        assert "GITOPS_RUNNER_NAME" in seen["envs"]
        # the stand-in Forgejo accepted the runner's uuid/token: it declared with its labels
        declared = db(forgejo)["runners"][seen["uuid"]]
        assert declared["name"] == name
        assert declared["labels"] == ["docker", "self-hosted"]


def test_deploy_again_plans_nothing_and_registers_nothing(stack, client) -> None:
    forgejo = stack.container(client, "forgejo")
    before = commands(forgejo)
    assert stack.plan_json()["actions"] == []
    stack.apply()
    after = commands(forgejo)[len(before) :]
    assert matching(after, "create") == []
    assert matching(after, "register") == []
    assert matching(after, "generate-access-token") == []


def test_a_deploy_running_on_a_runner_defers_that_runner(stack, client) -> None:
    stack.write("runners/runners.yaml", runners_yaml(["r-a", "r-b"], capacity=2))
    plan = stack.plan_json(env={"GITOPS_RUNNER_NAME": "r-a"})
    recreated = {a["resource"] for a in plan["actions"] if a["verb"] == "recreate"}
    assert recreated == {"service r-b"}
    assert any("r-a" in note and "deferred" in note for note in plan["notes"])
    stack.apply(env={"GITOPS_RUNNER_NAME": "r-a"})
    assert status(stack.container(client, "r-b"))["capacity"] == 2
    assert status(stack.container(client, "r-a"))["capacity"] == 1
    stack.apply()  # from elsewhere: the deferred runner follows
    assert status(stack.container(client, "r-a"))["capacity"] == 2


def test_removing_a_runner_revokes_it(stack, client) -> None:
    forgejo = stack.container(client, "forgejo")
    uuid_b = identity(pool(["r-b"]), "r-b", "forgejo").uuid
    token_before = db(forgejo)["runners"][uuid_b]["token_sha256"]
    stack.write("runners/runners.yaml", runners_yaml(["r-a"], capacity=2))
    # a deploy running as a job on r-b itself neither removes nor revokes r-b under the job
    on_b = stack.plan_json(env={"GITOPS_RUNNER_NAME": "r-b"})
    assert [a for a in on_b["actions"] if "r-b" in a["resource"] or "prune" in a["id"]] == []
    assert any("r-b" in note and "removal deferred" in note for note in on_b["notes"])
    assert any("factory:prune: deferred" in note for note in on_b["notes"])
    stack.apply()  # from elsewhere
    with pytest.raises(docker.errors.NotFound):
        stack.container(client, "r-b")
    assert db(forgejo)["runners"][uuid_b]["token_sha256"] != token_before  # old token revoked
    markers = forgejo.exec_run(["ls", "/var/lib/gitea/gitops-runners/factory"]).output.decode()
    assert markers.split() == ["r-a"]
    assert status(stack.container(client, "r-a"))["state"] == "declared"
    assert stack.plan_json()["actions"] == []


def test_removing_a_whole_pool_revokes_its_runners_in_their_scope(stack, client) -> None:
    extra = runners_yaml(["x-1"]).replace("name: factory", "name: extra")
    extra = extra.replace("capacity: 1", "capacity: 1\nscope: factory/chocolate")
    stack.write("runners/extra.yaml", extra)
    stack.apply()
    forgejo = stack.container(client, "forgejo")
    uuid_x = identity(pool(["x-1"]), "x-1", "forgejo").uuid
    token_before = db(forgejo)["runners"][uuid_x]["token_sha256"]
    (stack.gitops / "runners" / "extra.yaml").unlink()
    before = commands(forgejo)
    stack.apply()
    with pytest.raises(docker.errors.NotFound):
        stack.container(client, "x-1")
    assert db(forgejo)["runners"][uuid_x]["token_sha256"] != token_before
    [revoke] = matching(commands(forgejo)[len(before) :], "register", "x-1")
    assert revoke[revoke.index("--scope") + 1] == "factory/chocolate"
    listed = forgejo.exec_run(["ls", "/var/lib/gitea/gitops-runners"]).output.decode()
    assert listed.split() == ["factory"]
    assert stack.plan_json()["actions"] == []


def test_version_bump_backs_up_then_recreates_and_runners_switch_flow(stack, client) -> None:
    old_token = stack.secret("forgejo-automation-token")
    # someone stopped Forgejo by hand: the backup still runs, in the old container started
    # for it (`forgejo dump` needs a running container)
    stack.container(client, "forgejo").stop()
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("15"))
    plan = stack.plan_json()
    [forgejo_action] = [a for a in plan["actions"] if a["resource"] == "service forgejo"]
    assert forgejo_action["verb"] == "recreate"
    assert any(c.startswith("first: back up with `forgejo dump`") for c in forgejo_action["causes"])
    stack.apply()
    forgejo = stack.container(client, "forgejo")
    assert forgejo.image.tags == ["chocolate-factory/forgejo-standin:15-rootless"]
    dumps = forgejo.exec_run(["ls", "/var/lib/gitea-backups"]).output.decode().split()
    assert len(dumps) == 1
    assert re.fullmatch(r"forgejo-\d{8}T\d{6}Z\.zip", dumps[0])
    assert matching(commands(forgejo), "dump", "--file")
    assert db(forgejo)["version"] == "15.0.1"
    assert "factory-admin" in db(forgejo)["users"]  # the data volume survived
    # the token step ran again in the new container: the old token deleted (Basic auth), a new
    # one minted and captured
    new_token = stack.secret("forgejo-automation-token")
    assert new_token != old_token
    assert db(forgejo)["tokens"] == {
        "factory-admin/gitops-automation": {
            "scopes": "all",
            "sha256": hashlib.sha256(new_token.encode()).hexdigest(),
        }
    }
    seen = status(stack.container(client, "r-a"))
    assert seen["state"] == "declared"
    assert seen["source"] == "server.connections.forgejo"
    assert stack.plan_json()["actions"] == []


def test_a_failed_upgrade_keeps_the_old_forgejo_stopped_not_restarted(stack, client) -> None:
    before = stack.container(client, "forgejo")
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("16"))
    result = stack.gitops_cli("apply", "--yes")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "not healthy" in output or "unhealthy" in output
    assert "kept but NOT restarted" in output
    assert "forgejo-backups" in output  # where the backup to restore is
    kept = stack.container(client, "forgejo")
    assert kept.id == before.id  # the previous container, under its own name
    assert kept.status == "exited"
    assert kept.image.tags == ["chocolate-factory/forgejo-standin:15-rootless"]
    names = [c.name for c in client.containers.list(all=True)]
    assert not [n for n in names if n.startswith(f"{stack.project}-forgejo--")]
    # the broken release migrated the database: the old version refuses it, as Forgejo does
    # (which is why it was not restarted). The person restores the dump taken before the
    # upgrade, with a one-off container on the volumes, and declares the old version again.
    restore = (
        "import pathlib, zipfile; "
        "dump = sorted(pathlib.Path('/var/lib/gitea-backups').glob('forgejo-*.zip'))[-1]; "
        "zipfile.ZipFile(dump).extract('data/gitea.db', '/var/lib/gitea')"
    )
    run_once(  # not containers.run(remove=True): it leaves the image's VOLUMEs behind
        client,
        "chocolate-factory/forgejo-standin:15-rootless",
        ["-c", restore],
        entrypoint="python3",
        user="1000:1000",
        volumes={
            f"{stack.project}_forgejo-data": {"bind": "/var/lib/gitea", "mode": "rw"},
            f"{stack.project}_forgejo-backups": {"bind": "/var/lib/gitea-backups", "mode": "ro"},
        },
    )
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("15"))
    plan = stack.plan_json()
    [action] = [a for a in plan["actions"] if a["resource"] == "service forgejo"]
    assert action["verb"] == "start"
    stack.apply()
    assert docker_health(stack.container(client, "forgejo")) == "healthy"
    assert db(stack.container(client, "forgejo"))["version"] == "15.0.1"
    assert stack.plan_json()["actions"] == []


def test_downgrade_is_refused_with_the_location_and_nothing_changes(stack, client) -> None:
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("11.0"))
    result = stack.gitops_cli("plan")
    assert result.returncode == 1
    assert "downgrade is refused" in result.stderr
    assert "forgejo/forgejo.yaml:" in result.stderr
    assert "forgejo-backups" in result.stderr
    assert stack.gitops_cli("apply", "--yes").returncode == 1
    assert stack.container(client, "forgejo").image.tags == [
        "chocolate-factory/forgejo-standin:15-rootless"
    ]
    stack.write("forgejo/forgejo.yaml", forgejo_yaml("15"))
