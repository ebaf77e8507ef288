"""Workflows: named multi-phase runs whose phases run groups of specialist agents (DESIGN 12)."""
