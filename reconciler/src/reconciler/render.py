"""Plans for people (rich: a table of actions with reasons, unified diffs) and for
programs (a stable JSON document, format_version 1, described in ARCHITECTURE.md §6).

Everything rendered comes from the Plan, which holds no secret values; secrets appear only
as {"secret": name, "digest": …}.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from reconciler.actions import Action, CoreVerb, GenerateSecret, Plan

__all__ = ["plan_document", "render_plan", "unified_diff"]

_STYLE: dict[str, str] = {
    CoreVerb.CREATE: "green",
    CoreVerb.CREATE_NETWORK: "green",
    CoreVerb.CREATE_VOLUME: "green",
    CoreVerb.GENERATE_SECRET: "green",
    CoreVerb.RECREATE: "yellow",
    CoreVerb.UPDATE: "cyan",
    CoreVerb.START: "cyan",
    CoreVerb.RUN_JOB: "magenta",
    CoreVerb.BOOTSTRAP: "magenta",
    CoreVerb.PULL_IMAGE: "blue",
    CoreVerb.REMOVE_ORPHAN: "red",
    CoreVerb.REMOVE_NETWORK: "red",
    CoreVerb.REMOVE_VOLUME: "bold red",
}


def _pretty(value: Any) -> list[str]:
    """One line when short (lists of args, small maps), indented JSON otherwise."""
    compact = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(compact) <= 100:
        return [compact]
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def unified_diff(action: Action) -> str:
    """One unified diff over every changed field of an action ('' when none)."""
    before: list[str] = []
    after: list[str] = []
    for change in action.changes:
        for side, value in ((before, change.before), (after, change.after)):
            if value is None:
                continue
            lines = _pretty(value)
            side.append(f"{change.field}: {lines[0]}")
            side.extend(f"  {line}" for line in lines[1:])
    if not before and not after:
        return ""
    diff = difflib.unified_diff(
        before,
        after,
        fromfile=f"{action.resource} (running)",
        tofile=f"{action.resource} (declared)",
        lineterm="",
        n=2,
    )
    return "\n".join(diff)


def render_plan(plan: Plan, console: Console, *, title: str = "Plan") -> None:
    for note in plan.notes:
        # plain Text: a note may hold brackets ("[fd00::1]:8100") that markup would eat
        style = "yellow" if note.startswith("exposure:") else "dim"
        console.print(Text(f"note: {note}", style=style))
    if plan.empty:
        console.print(
            Text.assemble(("No changes.", "green"), f" Project {plan.project!r} matches gitops/.")
        )
        return
    table = Table(
        title=Text(f"{title}: {len(plan.actions)} action(s) for {plan.project!r}"),
        title_justify="left",
        show_lines=False,
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("action")
    table.add_column("resource")
    table.add_column("why")
    table.add_column("declared at", style="dim")
    for index, action in enumerate(plan.actions, 1):
        table.add_row(
            str(index),
            Text(str(action.verb), style=_STYLE.get(action.verb, "")),
            # Text, not str: names and causes are shown verbatim, never parsed as markup
            Text(action.resource),
            Text("\n".join(action.causes)),
            Text(str(action.source) if action.source else ""),
        )
    console.print(table)
    for action in plan.actions:
        diff = unified_diff(action)
        if diff and action.verb != CoreVerb.CREATE:
            console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


def plan_document(plan: Plan) -> dict[str, Any]:
    """The documented, stable JSON form of a plan."""
    return {
        "format_version": plan.format_version,
        "project": plan.project,
        "changes": len(plan.actions),
        "actions": [
            {
                "id": a.id,
                "provider": a.provider,
                "verb": str(a.verb),
                "resource": a.resource,
                "causes": list(a.causes),
                "changes": [
                    {"field": c.field, "before": c.before, "after": c.after} for c in a.changes
                ],
                "depends_on": list(a.depends_on),
                "source": (
                    {"file": a.source.file, "line": a.source.line, "column": a.source.column}
                    if a.source
                    else None
                ),
            }
            for a in plan.actions
        ],
        "secrets_to_generate": [
            a.payload.name for a in plan.actions if isinstance(a.payload, GenerateSecret)
        ],
        "notes": list(plan.notes),
    }
