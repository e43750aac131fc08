"""The transport stack: httpx transports that wrap each other (retry, and later rate limits)."""
