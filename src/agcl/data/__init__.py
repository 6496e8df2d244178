"""Data layer: dataset index (NIH layout or generic CSV), image decoding, resized cache, torch Dataset.

Submodules are imported on demand (``from agcl.data.index import load_index``) so that importing
:mod:`agcl.data` stays cheap and does not pull in torch.
"""
