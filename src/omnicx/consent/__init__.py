"""Consent per purpose and channel, preferences and suppression: who may be contacted, for
what, on which channel, and when.
"""
