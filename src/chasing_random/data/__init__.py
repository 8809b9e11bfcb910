"""Pools: reading sources, validating rows, the common record, prompt templates, the audit pool."""
