"""Class activation maps (Eq. 1) and explicit normalisation steps."""

from agcl.cam.exact import class_activation_maps
from agcl.cam.normalize import minmax_normalize

__all__ = ["class_activation_maps", "minmax_normalize"]
