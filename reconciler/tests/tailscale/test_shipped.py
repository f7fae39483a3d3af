"""The tailnet files this repository ships (gitops/tailscale/) are what a first deploy applies:
their defaults are safe and their policy passes its own tests."""

from __future__ import annotations

from pathlib import Path

from factory_common.tailscale.api import TailscaleClient
from reconciler.project import load_project
from reconciler.providers.tailscale.planning import desired_items

GITOPS = Path(__file__).resolve().parents[3] / "gitops"
SHIPPED_POLICY = GITOPS / "tailscale" / "policy.hujson"


def test_the_shipped_tailnet_removes_no_device_unless_opted_in():
    settings, policy, _nodes = desired_items(load_project(GITOPS).desired)
    assert settings is not None
    assert policy is not None
    assert settings.prune_duplicates_after_s is None  # duplicates: reported, never removed
    assert settings.prune_stale_after_s is None


def test_the_shipped_policy_and_its_tests_pass_validation(client: TailscaleClient):
    text = SHIPPED_POLICY.read_text(encoding="utf-8")
    verdict = client.validate_policy(text)
    assert verdict.ok, verdict.describe()


def test_the_shipped_tests_would_catch_a_grant_that_opens_too_much(client: TailscaleClient):
    """The same validation fails once a grant lets CI reach the MCP server, which the
    shipped tests deny: the check above is a real run of those tests, not a parse."""
    text = SHIPPED_POLICY.read_text(encoding="utf-8")
    opened = text.replace(
        '{"src": ["tag:ci"], "dst": ["tag:registry", "tag:forgejo"]',
        '{"src": ["tag:ci"], "dst": ["tag:registry", "tag:forgejo", "tag:mcp"]',
    )
    assert opened != text
    verdict = client.validate_policy(opened)
    assert not verdict.ok
    assert verdict.message == "test(s) failed"
    assert [entry["user"] for entry in verdict.data] == ["tag:ci"]
    assert "tag:mcp:443" in verdict.describe()
