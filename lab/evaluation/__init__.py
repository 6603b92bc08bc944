"""Evaluations of an ``LLM2Vec`` encoder; each module scores one task (``sts``: STS-B Spearman)."""
