"""Synthetic chest X-ray phantom in NIH ChestX-ray14 layout, with reports and a truth folder.

``synthesize(out_dir, n=3000, size=256, seed=0, profile="calibrated")`` is a pure function of
``(seed, spec)``; a profile is a named preset of spec fields (``phantom_spec``). See docs/phantom.md
for what it draws and writes, and why ("Profiles", "Difficulty").
"""

from agcl.data.phantom.profiles import DEFAULT_PROFILE, PROFILES, phantom_spec
from agcl.data.phantom.spec import PhantomSpec
from agcl.data.phantom.writer import synthesize

__all__ = ["DEFAULT_PROFILE", "PROFILES", "PhantomSpec", "phantom_spec", "synthesize"]
