"""Privacy: subject access and erasure across every domain, suppression, retention, audit."""
