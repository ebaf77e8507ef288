"""Mutation sweeps: setup, the sweep, reports, the judge relay, fixes and labelling."""
