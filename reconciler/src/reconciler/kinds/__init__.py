"""The registry of kinds: which YAML `kind:` maps to which model and compile function.

Kinds register themselves at import; `load_builtin_kinds()` imports the modules below, so
adding a kind is: create the module, call `register_kind(...)` in it, list it here.
A module not present in the tree (a kind not written yet) is skipped, nothing else is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import create_model

from reconciler.kinds.base import KindSpec, ServiceExtension

__all__ = [
    "BUILTIN_KIND_MODULES",
    "kind_specs",
    "load_builtin_kinds",
    "register_kind",
    "register_secret_function",
    "register_service_extension",
    "secret_function",
    "service_extensions",
]

BUILTIN_KIND_MODULES: tuple[str, ...] = (
    "reconciler.kinds.service",  # Service (CORE)
    "reconciler.kinds.forgejo",  # Forgejo (KINDS)
    "reconciler.kinds.runners",  # RunnerPool (KINDS)
    "reconciler.kinds.registry",  # Registry (KINDS)
    "reconciler.providers.tailscale.kind",  # Tailnet kind + `tailscale:` service extension (TAILNET)
)

_KINDS: dict[str, KindSpec[Any]] = {}
_EXTENSIONS: dict[str, ServiceExtension[Any]] = {}
_loaded = False


def register_kind(spec: KindSpec[Any]) -> None:
    """Make `kind: <spec.kind>` documents loadable. Registering a name twice is a bug."""
    existing = _KINDS.get(spec.kind)
    if existing is not None and existing is not spec:
        raise RuntimeError(f"kind {spec.kind!r} registered twice")
    _KINDS[spec.kind] = spec


def register_service_extension(extension: ServiceExtension[Any]) -> None:
    """Add an optional key (e.g. `tailscale`) to every service document."""
    existing = _EXTENSIONS.get(extension.key)
    if existing is not None and existing is not extension:
        raise RuntimeError(f"service extension {extension.key!r} registered twice")
    _EXTENSIONS[extension.key] = extension


SecretFunction = Callable[[Mapping[str, str], Mapping[str, str]], str]
_SECRET_FUNCTIONS: dict[str, SecretFunction] = {}


def register_secret_function(name: str, function: SecretFunction) -> None:
    """Make `ComputedSecret(function=name)` resolvable: `function(inputs, params) -> value`,
    inputs being `{argument: secret value}`. Deterministic, pure, never logs its inputs."""
    existing = _SECRET_FUNCTIONS.get(name)
    if existing is not None and existing is not function:
        raise RuntimeError(f"secret function {name!r} registered twice")
    _SECRET_FUNCTIONS[name] = function


def secret_function(name: str) -> SecretFunction:
    """The function behind `ComputedSecret(function=name)` (KeyError if none registered)."""
    load_builtin_kinds()
    return _SECRET_FUNCTIONS[name]


def load_builtin_kinds() -> None:
    """Import every builtin kind module that exists (idempotent)."""
    global _loaded
    if _loaded:
        return
    for module in BUILTIN_KIND_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
    _loaded = True


def kind_specs() -> dict[str, KindSpec[Any]]:
    """Every registered kind, models extended with the registered service extensions."""
    load_builtin_kinds()
    return {name: _extended(spec) for name, spec in sorted(_KINDS.items())}


_EXTENDED: dict[str, KindSpec[Any]] = {}


def _extended(spec: KindSpec[Any]) -> KindSpec[Any]:
    if not spec.accepts_service_extensions or not _EXTENSIONS:
        return spec
    cached = _EXTENDED.get(spec.kind)
    if cached is not None:
        return cached
    fields: dict[str, Any] = {
        key: (ext.model | None, None) for key, ext in sorted(_EXTENSIONS.items())
    }
    model = create_model(spec.model.__name__, __base__=spec.model, **fields)
    extended = replace(spec, model=model)
    _EXTENDED[spec.kind] = extended
    return extended


def service_extensions() -> dict[str, ServiceExtension[Any]]:
    load_builtin_kinds()
    return dict(sorted(_EXTENSIONS.items()))
