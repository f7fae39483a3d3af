"""Test doubles for every package's tests; a distribution of its own so no image carries it.

``factory_common_testing.tailscale_double`` is a stand-in for the Tailscale API v2 (which
cannot be reached from the build machines); the reconciler's, common's and the analytics
service's tests use it. Nothing imports it at run time.
"""

from factory_common_testing._policy_checks import policy_problems, run_tests

__all__ = ["policy_problems", "run_tests"]
