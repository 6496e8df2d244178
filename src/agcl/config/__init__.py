"""Typed configuration: frozen dataclasses per concern, YAML in, ``--set a.b=value`` overrides, YAML out.

Public API (stable; see docs/training.md):

* sections: :class:`DataConfig`, :class:`ModelConfig`, :class:`OptimConfig`, :class:`RuntimeConfig`;
  root :class:`TrainConfig` (subclass it to add sections).
* :func:`load_config` (YAML file + overrides → config), :func:`apply_overrides`, :func:`from_dict`,
  :func:`to_dict`, :func:`dump_config`, :func:`save_config`, :func:`check_choice`, :func:`did_you_mean`.
"""

from agcl.config.loader import (
    apply_overrides,
    check_choice,
    coerce,
    did_you_mean,
    dump_config,
    from_dict,
    load_config,
    save_config,
    to_dict,
)
from agcl.config.schema import DataConfig, ModelConfig, OptimConfig, RuntimeConfig, TrainConfig

__all__ = [
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "RuntimeConfig",
    "TrainConfig",
    "apply_overrides",
    "check_choice",
    "coerce",
    "did_you_mean",
    "dump_config",
    "from_dict",
    "load_config",
    "save_config",
    "to_dict",
]
