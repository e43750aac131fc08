"""Authentication: httpx.Auth implementations that add ``Authorization: Bearer``."""

from .app import DEFAULT_AUTH_URL, DEFAULT_SCOPES, OAuthApp
from .oauth2 import OAuth2Auth
from .static import StaticToken
from .store import FileTokenStore, LockingTokenStore, MemoryTokenStore, TokenStore
from .token import Token

__all__ = [
    "DEFAULT_AUTH_URL",
    "DEFAULT_SCOPES",
    "FileTokenStore",
    "LockingTokenStore",
    "MemoryTokenStore",
    "OAuth2Auth",
    "OAuthApp",
    "StaticToken",
    "Token",
    "TokenStore",
]
