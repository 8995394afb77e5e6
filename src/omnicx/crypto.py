"""Field encryption at rest and keyed look-up hashes (filled in by the protection work)."""
