"""Filled in by the privacy work."""
