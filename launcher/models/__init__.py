"""Pydantic models of every file format and contract: plan, task, contract, verdicts, events."""
