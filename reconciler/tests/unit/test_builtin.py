"""Kinds and providers are listed statically in reconciler.builtin: a kind's package that
defines a KindSpec but is not listed there is a kind the engine would silently not know."""

from __future__ import annotations

import importlib
import pkgutil

import reconciler.kinds
import reconciler.providers
from reconciler.builtin import KINDS, PROVIDERS, SERVICE_EXTENSIONS
from reconciler.kinds import kind_specs, service_extensions
from reconciler.kinds.base import KindSpec, ServiceExtension


def _defined(package, kind) -> set[str]:
    found = set()
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, kind):
                found.add(value.kind if kind is KindSpec else value.key)
    return found


def test_every_kind_spec_in_the_tree_is_listed():
    defined = _defined(reconciler.kinds, KindSpec) | _defined(reconciler.providers, KindSpec)
    assert defined == {spec.kind for spec in KINDS}
    assert set(kind_specs()) == {"Forgejo", "Registry", "RunnerPool", "Service", "Tailnet"}


def test_every_service_extension_is_listed():
    defined = _defined(reconciler.providers, ServiceExtension)
    assert defined == {ext.key for ext in SERVICE_EXTENSIONS} == set(service_extensions())


def test_providers_are_docker_and_tailscale_in_that_order():
    assert list(PROVIDERS) == ["docker", "tailscale"]
