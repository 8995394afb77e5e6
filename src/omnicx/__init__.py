"""omnicx: one customer, every channel, no lost context."""

__version__ = "0.1.0"
