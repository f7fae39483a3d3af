"""Waiting for a container to prove itself: healthy, running, or (jobs) exited 0.

Polls `inspect` (cheap, local) and reports progress; on failure says which check failed,
with the healthcheck's last output and the container's last log lines (redacted by the
caller's `redact`, since logs may echo a secret).

Docker runs a container's first health probe one `interval` after start (engines before 25
have no `start_interval`), so a service that is ready in 300 ms would keep a swap waiting
for seconds: downtime, for a stop-first replacement. While Docker still says `starting`,
the gate therefore also runs the declared check itself (`docker exec`, as the container's
user, bounded by the check's timeout) every PROBE_S. One success is what turns Docker's
status to healthy too, so the verdict is the same, only sooner; `unhealthy` is still
Docker's own judgement.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import docker
import docker.errors

from reconciler.clip import clip, tail_lines
from reconciler.resources import ContainerSpec

__all__ = ["GateFailure", "last_logs", "wait_healthy", "wait_job", "wait_restored"]

SETTLE_S = 1.0  # a container without healthcheck must still run after this long
POLL_S = 0.1
PROBE_S = 0.25  # how often the gate runs the declared check itself while Docker waits


class GateFailure(Exception):
    """The health gate failed: `check` names what failed, `details` is diagnostic text."""

    def __init__(self, check: str, details: tuple[str, ...]) -> None:
        super().__init__(check)
        self.check = check
        self.details = details


def last_logs(api: docker.APIClient, container_id: str, lines: int = 15) -> tuple[str, ...]:
    try:
        raw = api.logs(container_id, stdout=True, stderr=True, tail=lines)
    except docker.errors.APIError:
        return ()
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return tuple(text.rstrip("\n").splitlines()[-lines:])


def _describe(spec: ContainerSpec) -> str:
    if spec.healthcheck is None:
        return "container must keep running"
    test = spec.healthcheck.test
    shown = " ".join(test[1:]) if test and test[0] in ("CMD", "CMD-SHELL") else " ".join(test)
    return f"healthcheck `{clip(shown, 120)}`"


def _exec_argv(test: tuple[str, ...]) -> list[str] | None:
    if test and test[0] == "CMD":
        return list(test[1:])
    if test and test[0] == "CMD-SHELL" and len(test) > 1:
        return ["/bin/sh", "-c", test[1]]
    return None  # NONE, or a form Docker would not run either


def check_passes(api: docker.APIClient, container_id: str, spec: ContainerSpec) -> bool:
    """Run the container's declared health check once, now; True when it exits 0 within
    the check's timeout (a check still running then is left to finish in the container)."""
    if spec.healthcheck is None:
        return False
    argv = _exec_argv(spec.healthcheck.test)
    if argv is None:
        return False
    outcome: dict[str, int | None] = {}

    def run() -> None:
        try:
            # attached, so exec_start returns only when the check has finished
            exec_id = api.exec_create(container_id, argv, stdout=True, stderr=True)["Id"]
            api.exec_start(exec_id)
            outcome["code"] = api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.APIError:
            outcome["code"] = None  # e.g. the container stopped meanwhile

    worker = threading.Thread(target=run, daemon=True, name="gitops-health-probe")
    worker.start()
    worker.join(spec.healthcheck.timeout_s)
    return outcome.get("code") == 0


def wait_healthy(
    api: docker.APIClient,
    container_id: str,
    spec: ContainerSpec,
    progress: Callable[[str], None],
    redact: Callable[[str], str],
) -> None:
    """Return when the container is healthy (or running, without a healthcheck)."""
    started = time.monotonic()
    deadline = started + spec.health_timeout_s
    announced = False
    last_probe = 0.0
    while True:
        state = api.inspect_container(container_id)["State"]
        status = state.get("Status")
        health = state.get("Health")
        if status in ("exited", "dead"):
            raise GateFailure(
                f"{spec.name} exited with code {state.get('ExitCode')} while starting "
                f"({_describe(spec)})",
                tuple(redact(line) for line in last_logs(api, container_id)),
            )
        if spec.healthcheck is None:
            if status == "running" and time.monotonic() - started >= SETTLE_S:
                return
        elif health is not None:
            if health.get("Status") == "healthy":
                return
            if health.get("Status") == "unhealthy":
                raise _unhealthy(api, container_id, spec, health, redact)
            if status == "running" and time.monotonic() - last_probe >= PROBE_S:
                last_probe = time.monotonic()
                if check_passes(api, container_id, spec):
                    return
        if time.monotonic() > deadline:
            raise _unhealthy(api, container_id, spec, health or {}, redact, timed_out=True)
        if not announced and time.monotonic() - started > 2:
            progress(
                f"waiting for {spec.name} to become healthy ({_describe(spec)}, "
                f"up to {spec.health_timeout_s:g}s)"
            )
            announced = True
        time.sleep(POLL_S)


def _unhealthy(
    api: docker.APIClient,
    container_id: str,
    spec: ContainerSpec,
    health: dict,
    redact: Callable[[str], str],
    *,
    timed_out: bool = False,
) -> GateFailure:
    probes = health.get("Log") or []
    details: list[str] = []
    if probes:
        last = probes[-1]
        output = redact(str(last.get("Output", "")).strip())
        details.append(f"last check: exit {last.get('ExitCode')}:")
        details.extend(f"  {line}" for line in tail_lines(output, 600))
    logs = last_logs(api, container_id)
    if logs:
        details.append("last log lines:")
        details.extend(redact(line) for line in logs)
    verdict = f"not healthy after {spec.health_timeout_s:g}s" if timed_out else "reported unhealthy"
    return GateFailure(f"{spec.name} {verdict}: {_describe(spec)} failed", tuple(details))


def wait_job(
    api: docker.APIClient,
    container_id: str,
    spec: ContainerSpec,
    progress: Callable[[str], None],
    redact: Callable[[str], str],
) -> None:
    """Return when the job exited 0; raise GateFailure otherwise (or on timeout)."""
    progress(f"running job {spec.name} (up to {spec.health_timeout_s:g}s)")
    try:
        result = api.wait(container_id, timeout=spec.health_timeout_s)
    except Exception as exc:  # requests' ReadTimeout / ConnectionError
        raise GateFailure(
            f"job {spec.name} did not finish within {spec.health_timeout_s:g}s ({exc})",
            tuple(redact(line) for line in last_logs(api, container_id)),
        ) from exc
    code = int(result.get("StatusCode", -1))
    if code != 0:
        raise GateFailure(
            f"job {spec.name} exited with code {code}",
            tuple(redact(line) for line in last_logs(api, container_id)),
        )


def wait_restored(api: docker.APIClient, container_id: str, timeout_s: float) -> bool:
    """After a rollback: wait (bounded) until the old container is healthy again, judged by
    its own healthcheck (or running, without one). Returns False when it did not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = api.inspect_container(container_id)["State"]
        if state.get("Status") in ("exited", "dead"):
            return False
        health = state.get("Health")
        if health is None and state.get("Status") == "running":
            return True
        if health is not None and health.get("Status") == "healthy":
            return True
        time.sleep(POLL_S)
    return False
