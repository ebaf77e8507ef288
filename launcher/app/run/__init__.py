"""One run: plan inputs, the pipeline of each task (agent, checks, grading), retries, resume."""
