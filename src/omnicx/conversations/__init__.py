"""Conversations that follow the customer across channels.

One thread per customer, each message with its own channel.
"""
