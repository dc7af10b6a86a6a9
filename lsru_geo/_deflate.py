"""Resuming a deflate stream at a seek point with a plain ``decompressobj`` (pure, no I/O).

A gzip seek point (zlib's ``zran``, as ``indexed_gzip`` records them) is a deflate block boundary: the
compressed byte offset ``cmp`` where the block continues, the number of ``bits`` (0-7) of the block that sit
in the byte before it, and the 32 KiB of uncompressed data before the point (the *window*, the dictionary
the block's back-references read). zlib resumes there with ``inflatePrime``, which Python's ``zlib`` (and
``zlib_ng``, which is ~1.5x faster on our products) do not expose.

Instead, :func:`resume_input` prepends *no-op blocks*: non-final deflate blocks that decode to nothing, of a
total length chosen so that, followed by the point's ``bits`` leading bits, the block starts on a byte
boundary. The bytes from ``cmp`` on are then fed unchanged to ``decompressobj(wbits=-15, zdict=window)``,
whose first output is the uncompressed byte at the point. Two no-op blocks (RFC 1951; bits are packed from
the least significant, Huffman codes from their most significant bit):

* an empty block with the fixed code: BFINAL=0, BTYPE=01, end-of-block ``0000000``: 10 bits;
* an empty block with a dynamic code whose only literal/length symbol is the end of block (length 1) and
  whose one distance code is unused (length 0): 37 + 3n bits with n = 18 or 19 code-length codes sent
  (91 or 94). zlib accepts a lone code of length 1 and an unused distance code (``inflate_table``).

10k covers even residues, 91 + 10k the odd ones: every ``bits`` value has a prefix of at most 121 bits.
``tests/unit/test_deflate.py`` checks every point of real archives against ``zlib``.

The other half of this module reads the points out of ``indexed_gzip``'s ``export_index`` file
(:func:`parse_zran_index`: format of ``zran.c``, version 0 or 1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

#: Order in which a dynamic block sends its code-length code lengths (RFC 1951, 3.2.7).
_CODE_LENGTH_ORDER = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)
#: Largest window an index may hold (deflate's own limit).
WINDOW_BYTES = 32 << 10


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def value(self, value: int, count: int) -> None:
        """Append ``count`` bits of ``value``, least significant first (deflate's header fields)."""
        self.bits += [(value >> i) & 1 for i in range(count)]

    def code(self, code: int, length: int) -> None:
        """Append a Huffman code, most significant bit first."""
        self.bits += [(code >> i) & 1 for i in reversed(range(length))]


def _fixed_empty(out: _Bits) -> None:
    out.value(0, 1)  # not the last block
    out.value(1, 2)  # fixed Huffman codes
    out.code(0, 7)  # end of block (symbol 256: seven zero bits)


def _dynamic_empty(out: _Bits, sent: int) -> None:
    out.value(0, 1)
    out.value(2, 2)  # dynamic Huffman codes
    out.value(0, 5)  # HLIT: 257 literal/length codes
    out.value(0, 5)  # HDIST: 1 distance code
    out.value(sent - 4, 4)  # HCLEN
    lengths = {18: 1, 0: 2, 1: 2}  # canonical codes: 18 -> 0, 0 -> 10, 1 -> 11
    for symbol in _CODE_LENGTH_ORDER[:sent]:
        out.value(lengths.get(symbol, 0), 3)
    out.code(0b0, 1)
    out.value(138 - 11, 7)  # 138 literal lengths of 0
    out.code(0b0, 1)
    out.value(118 - 11, 7)  # 118 more: symbols 0-255 unused
    out.code(0b11, 2)  # symbol 256 (end of block) has length 1
    out.code(0b10, 2)  # the distance code has length 0
    out.code(0b0, 1)  # the block: end of block


@cache
def _no_op_bits(residue: int) -> tuple[int, ...]:
    """No-op blocks whose total length in bits is ``residue`` modulo 8."""
    for dynamic in (None, 18, 19):
        for fixed in range(4):
            out = _Bits()
            if dynamic:
                _dynamic_empty(out, dynamic)
            for _ in range(fixed):
                _fixed_empty(out)
            if len(out.bits) % 8 == residue % 8:
                return tuple(out.bits)
    raise AssertionError(f"no no-op prefix of {residue} bits modulo 8")  # pragma: no cover: 10k and 91+10k


def resume_prefix(bits: int, byte_before: int) -> bytes:
    """Return the bytes to feed a raw inflater before the compressed bytes from a seek point on.

    Parameters
    ----------
    bits : int
        How many bits (0-7) of the block at the point sit in the byte before its compressed offset.
    byte_before : int
        That byte (ignored when ``bits`` is 0).

    Returns
    -------
    bytes
        No-op blocks ending with the point's leading bits: empty when the point is on a byte boundary.
    """
    if not 0 <= bits <= 7:
        raise ValueError(f"a seek point has 0-7 leading bits, not {bits}")
    if bits == 0:
        return b""
    stream = list(_no_op_bits(8 - bits)) + [(byte_before >> (8 - bits + i)) & 1 for i in range(bits)]
    return bytes(sum(bit << j for j, bit in enumerate(stream[i : i + 8])) for i in range(0, len(stream), 8))


@dataclass(frozen=True)
class ZranPoint:
    """One seek point: compressed offset, uncompressed offset, leading bits, window (b"" if none)."""

    cmp: int
    uncmp: int
    bits: int
    window: bytes


def parse_zran_index(data: bytes) -> tuple[int, int, list[ZranPoint]]:
    """Return ``(compressed size, uncompressed size, points)`` of an ``indexed_gzip`` ``export_index`` file.

    Raises
    ------
    ValueError
        If the data is not such a file, or is truncated.
    """
    head = struct.Struct("<5sBBQQIII")
    if len(data) < head.size:
        raise ValueError("too short for a zran index")
    magic, version, _flags, cmp_size, uncmp_size, _spacing, window, count = head.unpack_from(data)
    if magic != b"GZIDX" or version not in (0, 1) or window > WINDOW_BYTES:
        raise ValueError(f"not a zran index of a known version ({magic!r}, version {version}, window {window})")
    record = struct.Struct("<QQBB" if version == 1 else "<QQB")
    at = head.size
    if at + count * record.size > len(data):
        raise ValueError("truncated zran index")
    fields = []
    for _ in range(count):
        values = record.unpack_from(data, at)
        at += record.size
        fields.append((values[0], values[1], values[2], values[3] if version == 1 else 1))
    points = []
    for cmp, uncmp, bits, has_window in fields:
        chunk = data[at : at + window] if has_window else b""
        if has_window:
            if len(chunk) != window:
                raise ValueError("truncated zran index window")
            at += window
        points.append(ZranPoint(cmp, uncmp, bits, chunk))
    return cmp_size, uncmp_size, points

