"""The transport stack: httpx transports that wrap each other (see ``stack.build_stack``)."""
