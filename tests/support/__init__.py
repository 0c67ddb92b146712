"""Helpers shared by several test suites (imported as `support.<module>`)."""
