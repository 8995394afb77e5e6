"""The `omnicx` command line."""
