"""The maestro: segments, journeys as versioned data, and the one policy gate every
proactive message passes.
"""
