"""The header of one final WebSocket frame (RFC 6455 5.2), for the two places that write frames
themselves: the emulator's outbox (unmasked server frames) and the load generator's client (masked)."""

from __future__ import annotations

import struct

OPCODE_TEXT = 0x1
_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


def frame_header(opcode: int, size: int, masked: bool) -> bytes:
    """FIN and the opcode, the mask bit, and the payload length in its 7-, 16- or 64-bit form (a masked
    frame's 4-byte key follows the header)."""
    first, mask_bit = 0x80 | opcode, 0x80 if masked else 0
    if size < 126:
        return bytes((first, mask_bit | size))
    if size < 65536:
        return _LEN16.pack(first, mask_bit | 126, size)
    return _LEN64.pack(first, mask_bit | 127, size)
