"""Filled in by the conversations work."""
