"""Synthetic chest X-ray phantom in NIH ChestX-ray14 layout, with reports and a truth folder.

``synthesize(out_dir, n=3000, size=256, seed=0)`` is a pure function of ``(seed, spec)``; see
docs/phantom.md for what it draws and writes, and why ("Difficulty").
"""

from agcl.data.phantom.spec import PhantomSpec
from agcl.data.phantom.writer import synthesize

__all__ = ["PhantomSpec", "synthesize"]
