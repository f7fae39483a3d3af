"""The kinds: which YAML `kind:` maps to which model and compile function.

The lists themselves are in `reconciler.builtin` (static: a kind is known because it is listed
there, never because some module was imported); this module answers the engine's questions
about them: every kind with its model extended by the service extensions, the extensions, and
the computed-secret functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import create_model

from reconciler.kinds.base import KindSpec, ServiceExtension

__all__ = ["SecretFunction", "kind_specs", "secret_function", "service_extensions"]

SecretFunction = Callable[[Mapping[str, str], Mapping[str, str]], str]


def secret_function(name: str) -> SecretFunction:
    """The function behind `ComputedSecret(function=name)` (KeyError if none is listed):
    `function(inputs, params) -> value`, inputs being `{argument: secret value}`.
    Deterministic, pure, never logs its inputs."""
    from reconciler.builtin import SECRET_FUNCTIONS

    function: SecretFunction = SECRET_FUNCTIONS[name]
    return function


def kind_specs() -> dict[str, KindSpec[Any]]:
    """Every listed kind, models extended with the service extensions."""
    from reconciler.builtin import KINDS

    return {spec.kind: _extended(spec) for spec in sorted(KINDS, key=lambda s: s.kind)}


_EXTENDED: dict[str, KindSpec[Any]] = {}


def _extended(spec: KindSpec[Any]) -> KindSpec[Any]:
    extensions = service_extensions()
    if not spec.accepts_service_extensions or not extensions:
        return spec
    cached = _EXTENDED.get(spec.kind)
    if cached is not None:
        return cached
    fields: dict[str, Any] = {key: (ext.model | None, None) for key, ext in extensions.items()}
    model = create_model(spec.model.__name__, __base__=spec.model, **fields)
    extended = replace(spec, model=model)
    _EXTENDED[spec.kind] = extended
    return extended


def service_extensions() -> dict[str, ServiceExtension[Any]]:
    """Every listed service extension by key (e.g. `tailscale`), sorted."""
    from reconciler.builtin import SERVICE_EXTENSIONS

    return {ext.key: ext for ext in sorted(SERVICE_EXTENSIONS, key=lambda e: e.key)}
