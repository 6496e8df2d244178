"""agcl: Attention-Guided Curriculum Learning for chest X-ray classification and weak localization.

Notebook API (imported lazily, so ``import agcl`` stays cheap): :func:`agcl.predict`,
:func:`agcl.report`, :func:`agcl.evaluate` (alias ``evaluate_stages``) — see :mod:`agcl.api`.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"predict": "agcl.api", "report": "agcl.api", "evaluate": "agcl.api", "evaluate_stages": "agcl.api"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agcl' has no attribute {name!r}")
