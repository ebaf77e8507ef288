"""Landing a run's approved work on the target, its recovery, and landing later or from exports."""
