"""Training: losses (Eq. 2–4), the epoch loop and checkpoints."""
