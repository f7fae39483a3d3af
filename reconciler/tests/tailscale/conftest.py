"""The Tailscale API test double over real HTTP, and a client for it (factory_common_testing)."""

from factory_common_testing.fixtures import client, sleeps, ts

__all__ = ["client", "sleeps", "ts"]
