"""Rendering (table, unified diff, stable JSON) and the JSON Schema of the documents."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.actions import Action, FieldChange, Plan
from reconciler.cli import run
from reconciler.load import load_documents
from reconciler.providers.docker.payloads import Recreate
from reconciler.render import plan_document, render_plan, unified_diff
from reconciler.schema import json_schema, render
from reconciler.source import SourceLocation
from rich.console import Console

ROOT = Path(__file__).resolve().parents[3]

PLAN = Plan(
    project="demo",
    actions=(
        Action(
            id="docker:container:web",
            provider="docker",
            verb="recreate",
            resource="service web",
            causes=("env changed: MODE",),
            changes=(FieldChange(field="env.MODE", before="prod", after="debug"),),
            source=SourceLocation(file="gitops/services/web.yaml", line=1, column=1),
            payload=Recreate(name="web", replace="0123abcd", strategy="start-first"),
        ),
    ),
)


def test_json_document_is_stable_and_complete() -> None:
    document = plan_document(PLAN)
    assert document == {
        "format_version": 1,
        "project": "demo",
        "changes": 1,
        "actions": [
            {
                "id": "docker:container:web",
                "provider": "docker",
                "verb": "recreate",
                "resource": "service web",
                "causes": ["env changed: MODE"],
                "changes": [{"field": "env.MODE", "before": "prod", "after": "debug"}],
                "depends_on": [],
                "source": {"file": "gitops/services/web.yaml", "line": 1, "column": 1},
            }
        ],
        "secrets_to_generate": [],
        "notes": [],
    }
    json.dumps(document)


def test_unified_diff_of_changed_fields() -> None:
    diff = unified_diff(PLAN.actions[0])
    assert '-env.MODE: "prod"' in diff
    assert '+env.MODE: "debug"' in diff
    assert "service web (running)" in diff


def test_table_names_action_resource_reason_and_source() -> None:
    console = Console(record=True, width=200)
    render_plan(PLAN, console)
    text = console.export_text()
    for part in ("recreate", "service web", "env changed: MODE", "gitops/services/web.yaml:1:1"):
        assert part in text
    empty = Console(record=True, width=200)
    render_plan(Plan(project="demo"), empty)
    assert "No changes." in empty.export_text()


def test_schema_covers_every_kind_and_rejects_unknown_keys() -> None:
    schema = json_schema()
    kinds = {
        d["properties"]["kind"]["const"]
        for d in schema["$defs"].values()
        if "kind" in d.get("properties", {}) and "const" in d["properties"]["kind"]
    }
    assert {"Stack", "Service"} <= kinds
    service = schema["$defs"]["Service"]
    assert service["additionalProperties"] is False
    assert "healthcheck" in service["properties"]


def test_committed_schema_is_current_and_every_document_points_at_it(tmp_path: Path) -> None:
    committed = json.loads((ROOT / "gitops" / "schema.json").read_text())
    assert committed == json.loads(render()), "gitops/schema.json is stale: run `gitops schema`"
    documents = sorted({doc.path for doc in load_documents(ROOT / "gitops")})
    assert len(documents) >= 7
    for path in documents:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = path.parent / first.split("$schema=")[1]
        assert target.resolve() == (ROOT / "gitops" / "schema.json"), path


def test_schema_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert run(["--dir", str(ROOT / "gitops"), "schema", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["title"].startswith("Chocolate Factory")


def test_validate_needs_no_secrets_and_no_engine(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert run(["--dir", str(ROOT / "gitops"), "validate"], environ={}) == 0
