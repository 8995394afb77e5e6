"""The consent tables and their SQL repositories (edges never import this package)."""
