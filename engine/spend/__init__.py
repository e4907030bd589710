"""Spend under control: cost of each answer, budgets per client key, the usage ledger
and the response cache (see docs/architecture.md)."""
