"""Class activation maps (Eq. 1) and explicit normalisation steps."""

from agcl.cam.align import align_to_image
from agcl.cam.exact import class_activation_maps
from agcl.cam.normalize import minmax_normalize

__all__ = ["align_to_image", "class_activation_maps", "minmax_normalize"]
