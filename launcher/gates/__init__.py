"""gates layer."""
