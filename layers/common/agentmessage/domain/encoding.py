"""Message encoding and segmentation.

A text is sent as GSM-7 when every character is in the GSM 03.38 basic character set or its
extension table (an extension character costs two septets: escape + character); otherwise it
is sent as UCS-2 and measured in UTF-16 code units (a character outside the BMP is a
surrogate pair, two units).

One part holds 160 GSM-7 / 70 UCS-2 units. A multipart message holds 153 GSM-7 / 67 UCS-2
units per part (the rest is the concatenation header). Parts are filled greedily in order,
and neither an extension character nor a surrogate pair is ever split across two parts, so
the part count can exceed ``ceil(units / per_part)``.
"""

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Encoding", "Segmentation", "segment"]


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class Segmentation:
    encoding: Encoding
    units: int  # GSM-7 septets (extension chars count 2) or UTF-16 code units
    parts: int


_GSM7_SINGLE = 160
_GSM7_MULTI = 153
_UCS2_SINGLE = 70
_UCS2_MULTI = 67

_BMP_MAX = 0xFFFF

# GSM 03.38 default alphabet, in code order 0x00..0x7F; 0x1B (escape) is not a character.
_GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "\N{GREEK CAPITAL LETTER DELTA}_"
    "\N{GREEK CAPITAL LETTER PHI}"
    "\N{GREEK CAPITAL LETTER GAMMA}"
    "\N{GREEK CAPITAL LETTER LAMDA}"
    "\N{GREEK CAPITAL LETTER OMEGA}"
    "\N{GREEK CAPITAL LETTER PI}"
    "\N{GREEK CAPITAL LETTER PSI}"
    "\N{GREEK CAPITAL LETTER SIGMA}"
    "\N{GREEK CAPITAL LETTER THETA}"
    "\N{GREEK CAPITAL LETTER XI}"
    "ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# GSM 03.38 extension table (each sent as escape + character).
_GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")


def segment(text: str) -> Segmentation:
    """Choose the encoding of ``text`` and count its units and parts, in one pass."""
    basic = _GSM7_BASIC
    extension = _GSM7_EXTENSION
    units = 0  # septets so far
    parts = 1  # parts so far, as a multipart message
    fill = 0  # septets in the current part, as a multipart message
    for index, char in enumerate(text):
        if char in basic:
            width = 1
        elif char in extension:
            width = 2
        else:
            return _segment_ucs2(text, index)
        units += width
        fill += width
        if fill > _GSM7_MULTI:
            parts += 1
            fill = width
    return Segmentation(Encoding.GSM7, units, 1 if units <= _GSM7_SINGLE else parts)


def _segment_ucs2(text: str, start: int) -> Segmentation:
    """Finish ``text`` as UCS-2, given that ``text[:start]`` is all GSM-7 (so all in the BMP)."""
    # The prefix is ``start`` one-unit characters: its greedy packing is plain arithmetic.
    units = start
    if start:
        parts = (start - 1) // _UCS2_MULTI + 1
        fill = start - (parts - 1) * _UCS2_MULTI
    else:
        parts = 1
        fill = 0
    for index in range(start, len(text)):
        width = 2 if ord(text[index]) > _BMP_MAX else 1
        units += width
        fill += width
        if fill > _UCS2_MULTI:
            parts += 1
            fill = width
    return Segmentation(Encoding.UCS2, units, 1 if units <= _UCS2_SINGLE else parts)
