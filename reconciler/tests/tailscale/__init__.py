"""Tests of the tailnet side: API client, test double, policy, devices, sidecars."""
