"""Authentication: httpx.Auth implementations that add ``Authorization: Bearer``."""

from .static import StaticToken

__all__ = ["StaticToken"]
