"""Compliance evidence: the requirement catalogue and the report built from a test run."""
