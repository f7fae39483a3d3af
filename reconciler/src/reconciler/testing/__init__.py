"""Test doubles shipped with the reconciler so every package's tests can use them.

``reconciler.testing.tailscale_double`` is a stand-in for the Tailscale API v2 (which cannot
be reached from the build machines); the reconciler's and the analytics service's tests both
use it. Nothing here is imported by the reconciler at run time.
"""
