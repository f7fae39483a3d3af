"""pytest fixtures: the Tailscale API test double served over real HTTP, and a client for it.

Shared by common's client tests and the engine's tailnet tests; a conftest takes them with
``from factory_common_testing.fixtures import client, sleeps, ts  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from factory_common.tailscale.api import ApiToken, TailscaleClient

from factory_common_testing.tailscale_double import (
    RunningDouble,
    TailscaleAPIDouble,
    serve_tailscale_double,
)

POLICY = """// the factory's test tailnet
{
  "groups": {"group:admins": ["alice@example.com"]},
  "tagOwners": {
    "tag:factory": ["group:admins"],
    "tag:forgejo": ["tag:factory"],
    "tag:ci": ["tag:factory"],
  },
  "acls": [
    {"action": "accept", "src": ["group:admins"], "dst": ["tag:forgejo:443,22"]},
    {"action": "accept", "src": ["tag:ci"], "dst": ["tag:forgejo:443"]},
  ],
  "tests": [
    {"src": "alice@example.com", "accept": ["tag:forgejo:443"], "deny": ["tag:ci:22"]},
    {"src": "tag:ci", "accept": ["tag:forgejo:443"], "deny": ["tag:forgejo:22"]},
  ],
}
"""


class Sleeps(list[float]):
    """Records the delays the client asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def ts() -> Iterator[RunningDouble]:
    double = TailscaleAPIDouble()
    double.console_edit_policy(POLICY)
    with serve_tailscale_double(double) as running:
        yield running


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(ts: RunningDouble, sleeps: Sleeps) -> Iterator[TailscaleClient]:
    with TailscaleClient(
        ApiToken(token=ts.api_token), base_url=ts.base_url, sleep=sleeps
    ) as client:
        yield client
