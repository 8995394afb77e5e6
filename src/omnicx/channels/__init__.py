"""Channel connectors: each provider behind a port, with a real adapter and a fake."""
