"""The registry of claims the CLI can run."""

from __future__ import annotations

import importlib

from ._claim import Claim

__all__ = ["claim_names", "get_claim", "register"]

_CLAIMS: dict[str, Claim] = {}
_BUILTINS_LOADED = False


def register(claim: Claim) -> Claim:
    """Add `claim` to the registry (its name must be new); returns it, so it can decorate."""
    if not isinstance(claim, Claim):
        raise TypeError(f"register expects a Claim, got {type(claim).__name__}")
    if claim.name in _CLAIMS and _CLAIMS[claim.name] is not claim:
        raise ValueError(f"a claim named {claim.name!r} is already registered")
    _CLAIMS[claim.name] = claim
    return claim


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        importlib.import_module("limitlab.validation.claims")
        _BUILTINS_LOADED = True


def claim_names() -> list[str]:
    """Names of all registered claims (the built-in ones included), in registration order."""
    _load_builtins()
    return list(_CLAIMS)


def get_claim(name: str) -> Claim:
    """The claim called `name`; `ValueError` listing the known names otherwise."""
    _load_builtins()
    if name not in _CLAIMS:
        raise ValueError(f"unknown claim {name!r}; known claims: {', '.join(_CLAIMS)}")
    return _CLAIMS[name]
