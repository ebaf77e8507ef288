"""Fixture for the fork executor: plain functions, methods, a cached function, import-time code."""
