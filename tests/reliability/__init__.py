"""Reliability: a seeded fault soak and state round trips against the simulator."""
