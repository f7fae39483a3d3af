"""When bootstrap steps run: after their container is (re)created, when their probe says
not done, or after a step they follow. Pure.

A step whose container is new always runs (its probe is checked once more right before, by
the executor); one that runs after a scheduled step is scheduled too, so `after` order holds.
"""

from __future__ import annotations

from reconciler.actions import Action, CoreVerb
from reconciler.providers.docker.observe import DockerObserved
from reconciler.providers.docker.payloads import Bootstrap
from reconciler.providers.docker.plan_container import PROVIDER
from reconciler.resources import BootstrapStep, SecretRef

__all__ = ["bootstrap_actions"]


def bootstrap_actions(
    steps: list[BootstrapStep],
    observed: DockerObserved,
    container_actions: dict[str, str],
    recreated: set[str],
) -> list[Action]:
    actions: list[Action] = []
    scheduled: dict[str, str] = {}
    for step in steps:
        reasons = []
        if step.container in recreated:
            reasons.append(f"container {step.container} is new")
        elif step.container in container_actions and step.probe is not None:
            reasons.append(f"container {step.container} (re)started; probe will be checked")
        elif any(name in recreated for name in step.triggers):
            new = sorted(name for name in step.triggers if name in recreated)
            reasons.append(f"container {', '.join(new)} is new; probe will be checked")
        elif step.probe is not None and observed.probes.get(step.id) is not True:
            reasons.append("probe says not done")
        if any(after in scheduled for after in step.after) and not reasons:
            reasons.append("a step it runs after is scheduled")
        if not reasons:
            continue
        deps = {scheduled[a] for a in step.after if a in scheduled}
        if step.container in container_actions:
            deps.add(container_actions[step.container])
        action_id = f"docker:bootstrap:{step.id}"
        scheduled[step.id] = action_id
        actions.append(
            Action(
                id=action_id,
                provider=PROVIDER,
                verb=CoreVerb.BOOTSTRAP,
                resource=f"bootstrap {step.id}",
                causes=(step.description, *reasons),
                depends_on=tuple(sorted(deps)),
                provides=(f"secret:{step.capture_secret}",) if step.capture_secret else (),
                needs=tuple(
                    f"secret:{v.secret}" for v in step.env.values() if isinstance(v, SecretRef)
                ),
                source=step.source,
                payload=Bootstrap(step=step.id),
            )
        )
    return actions
