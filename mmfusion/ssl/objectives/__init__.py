"""Pre-training objectives, one module per method (each registers itself; see ``OBJECTIVE_MODULES``)."""
