"""The voter's id in the anonymous mode: a device id the client sends, made canonical so that
one device cannot pass for many by changing case, width or invisible characters.

It is still an id the client chooses: the torcida limit binds to it, not to a person (a bot
that sends a new id per vote is limited only by the proof of work it pays for each vote).
"""

import unicodedata

MAX_VOTER_ID = 64

# Categories refused anywhere in an id: controls, format characters (zero-width spaces and
# joiners, bidirectional marks, soft hyphen, BOM), surrogates, private use, unassigned, and
# line or paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# Code points that show nothing but belong to other categories: Unicode's default-ignorable
# fillers and variation selectors, and the blank braille pattern.
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors
    (0x2800, 0x2800),  # braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors supplement
)


def _invisible(char: str) -> bool:
    code = ord(char)
    if any(low <= code <= high for low, high in _INVISIBLE_RANGES):
        return True
    category = unicodedata.category(char)
    # Of the spaces, only the plain one (NFKC has already made most others into it).
    return category in _REFUSED_CATEGORIES or (category == "Zs" and char != " ")


def normalize_voter_id(raw: str) -> str:
    """The canonical form of a voter id: NFKC, case-folded, trimmed (NFKC again after the
    case fold, as Unicode's NFKC_Casefold does). Raises ValueError for an id that holds a
    control or invisible character, is empty, or is longer than MAX_VOTER_ID once canonical."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold()).strip()
    # The usual id is printable ASCII, where only the control characters are refused, and
    # `isprintable` tells those apart without the per-character Unicode checks.
    for char in () if text.isascii() and text.isprintable() else text:
        if _invisible(char):
            raise ValueError(
                f"voter_id must not contain control or invisible characters (U+{ord(char):04X})"
            )
    if not text:
        raise ValueError("voter_id must not be empty")
    if len(text) > MAX_VOTER_ID:
        raise ValueError(f"voter_id must have at most {MAX_VOTER_ID} characters once normalised")
    return text
