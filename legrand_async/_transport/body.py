"""Read a response body whole, decoded, and never more than a size cap.

The cap is enforced on the decoded bytes while they stream in: gzip and deflate are inflated at
most :data:`PIECE` bytes at a time (zlib's ``max_length``), so a bomb stops at the cap instead of
filling memory first. Only the encodings decoded that way are accepted (:data:`ACCEPT_ENCODING`
is what the transport asks for); any other ``Content-Encoding``, or a compressed stream that is
corrupt or cut short, makes the body :class:`Undecodable`.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, Iterator
from typing import Final

__all__ = ["ACCEPT_ENCODING", "PIECE", "BodyTooLarge", "Undecodable", "read_body"]

#: The ``Accept-Encoding`` every request carries: what :func:`read_body` inflates under the cap.
ACCEPT_ENCODING: Final = "gzip, deflate"
#: Largest slice inflated at once.
PIECE: Final = 64 * 1024
_IDENTITY: Final = frozenset({"", "identity"})
_MAX_CODINGS: Final = 4


class BodyTooLarge(Exception):
    """The body (raw or decoded) is longer than the cap."""


class Undecodable(Exception):
    """The body is not in the ``Content-Encoding`` it claims (or one we do not decode)."""


class _Inflater:
    """One gzip (several members allowed) or deflate stream (zlib-wrapped or raw)."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._started = False
        self._raw = False
        self._z = self._new()

    def _new(self) -> zlib._Decompress:
        if self._gzip:
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Inflate ``data``, in pieces of at most :data:`PIECE` bytes."""
        while True:
            try:
                out = self._z.decompress(data, PIECE)
            except zlib.error as exc:
                if self._gzip or self._started or self._raw:
                    name = "gzip" if self._gzip else "deflate"
                    raise Undecodable(f"not valid {name} data ({exc})") from None
                self._raw = True  # some servers send raw deflate, without the zlib header
                self._z = self._new()
                continue
            self._started = True
            if out:
                yield out
            data = self._z.unconsumed_tail
            if self._z.eof:
                rest = self._z.unused_data
                if not (self._gzip and rest.strip(b"\0")):
                    return  # a deflate stream ends here; trailing zeros are padding
                self._z, data = self._new(), rest  # the next gzip member
            elif not data and len(out) < PIECE:
                return

    def end(self) -> None:
        """The input is over: the stream must be complete."""
        if not self._z.eof:
            raise Undecodable("the compressed body is cut short")


def _decoders(header: str | None) -> list[_Inflater]:
    """One inflater per coding, in the order they are to be undone (the last applied first)."""
    if header is None:
        return []
    codings = [c.strip().lower() for c in header.split(",")]
    if len(codings) > _MAX_CODINGS:
        raise Undecodable(f"more than {_MAX_CODINGS} content codings")
    decoders = []
    for coding in reversed(codings):
        if coding in _IDENTITY:
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise Undecodable(f"unsupported Content-Encoding {coding!r}")
        decoders.append(_Inflater(coding))
    return decoders


def _through(decoders: list[_Inflater], chunk: bytes) -> Iterator[bytes]:
    if not decoders:
        yield chunk
        return
    first, rest = decoders[0], decoders[1:]
    for piece in first.feed(chunk):
        yield from _through(rest, piece)


async def read_body(stream: AsyncIterable[bytes], encoding: str | None, limit: int) -> bytes:
    """The body of ``stream`` undone from ``encoding``; :class:`BodyTooLarge` past ``limit``.

    Raw bytes count against ``limit`` too, so endless padding after a compressed stream stops.
    Memory stays about twice ``limit`` however small the chunks (a chunked body of one-byte
    chunks held as a list of them took some 40 times the body).
    """
    decoders = _decoders(encoding)
    first = b""  # most bodies come in one chunk: kept as they are
    rest: bytearray | None = None  # more chunks are added up here (not a list of a million)
    size = raw = 0
    async for chunk in stream:
        raw += len(chunk)
        if raw > limit:
            raise BodyTooLarge
        for piece in _through(decoders, chunk) if decoders else (chunk,):
            size += len(piece)
            if size > limit:
                raise BodyTooLarge
            if rest is not None:
                rest += piece
            elif first:
                rest = bytearray(first)
                rest += piece
            else:
                first = piece
    for decoder in decoders:
        decoder.end()
    return first if rest is None else bytes(rest)
