"""Unified commerce: one catalog, one price, one inventory, orders from any channel and
returns anywhere.
"""
