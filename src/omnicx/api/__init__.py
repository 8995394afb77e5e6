"""The JSON API: tracking endpoints (Segment-compatible) and the admin API."""
