"""Prediction on new image files with a trained checkpoint (``agcl predict`` and :func:`agcl.predict`)."""
