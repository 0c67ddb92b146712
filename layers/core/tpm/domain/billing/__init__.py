"""Billing domain: code sets, X12 reading and writing, 837P claims and our rules, 999 /
277CA / 835 readers with balancing, posting plans, ledger rules. Pure: no I/O."""
