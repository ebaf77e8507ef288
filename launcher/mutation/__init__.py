"""Mutation tier foundation (DESIGN 11): the mutant model, Python and shell operators with stable
ids, and discovery (files, --since, --shard).

Modules: `model` (Mutant, MutantStatus, survivor shape), `python_ops` and `shell_ops`
(`generate_mutants`), `ids` (stable ids, scope hashes), `discover` (`collect_mutants` and parts).
Import them directly: this package does not import libcst until an operator module is used.
"""
