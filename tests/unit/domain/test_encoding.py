"""Encoding choice (GSM-7 or UCS-2) and segmentation into parts."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentmessage.domain.encoding import Encoding, Segmentation, segment

# The GSM 03.38 default alphabet in code order 0x00..0x7F, written out independently of the
# module under test. 0x1B is the escape to the extension table, not a character.
GSM7_BASIC_ROWS = (
    "@£$¥èéùìòÇ\nØø\rÅå",
    "\N{GREEK CAPITAL LETTER DELTA}_\N{GREEK CAPITAL LETTER PHI}\N{GREEK CAPITAL LETTER GAMMA}"
    "\N{GREEK CAPITAL LETTER LAMDA}\N{GREEK CAPITAL LETTER OMEGA}\N{GREEK CAPITAL LETTER PI}"
    "\N{GREEK CAPITAL LETTER PSI}\N{GREEK CAPITAL LETTER SIGMA}\N{GREEK CAPITAL LETTER THETA}"
    "\N{GREEK CAPITAL LETTER XI}\x1bÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
)
GSM7_BASIC = "".join(GSM7_BASIC_ROWS).replace("\x1b", "")
GSM7_EXTENSION = "\f^{}\\[~]|€"

EMOJI = "\N{GRINNING FACE}"  # outside the BMP: a surrogate pair in UTF-16
CYRILLIC = "\N{CYRILLIC SMALL LETTER ZHE}"  # in the BMP, not in GSM 03.38


def reference_parts(widths: list[int], single: int, multi: int) -> int:
    """Greedy packing, written the slow obvious way: a unit group never straddles two parts."""
    if sum(widths) <= single:
        return 1
    parts = [0]
    for width in widths:
        if parts[-1] + width > multi:
            parts.append(0)
        parts[-1] += width
    return len(parts)


def test_the_reference_basic_table_has_all_127_characters() -> None:
    # Given the table written out above
    # Then it covers 0x00..0x7F minus the escape, with no duplicates
    assert all(len(row) == 16 for row in GSM7_BASIC_ROWS)
    assert len(GSM7_BASIC) == 127
    assert len(set(GSM7_BASIC)) == 127
    assert not set(GSM7_BASIC) & set(GSM7_EXTENSION)


def test_segmentation_is_an_immutable_value() -> None:
    result = segment("hi")
    assert result == Segmentation(Encoding.GSM7, 2, 1)
    with pytest.raises(AttributeError):
        result.parts = 2  # type: ignore[misc]


def test_encoding_values_are_the_api_strings() -> None:
    assert str(Encoding.GSM7) == "GSM-7"
    assert f"{Encoding.UCS2}" == "UCS-2"
    assert [e.value for e in Encoding] == ["GSM-7", "UCS-2"]


def test_empty_text_is_one_gsm7_part() -> None:
    assert segment("") == Segmentation(Encoding.GSM7, 0, 1)


@pytest.mark.parametrize("char", list(GSM7_BASIC))
def test_every_basic_table_character_is_one_gsm7_septet(char: str) -> None:
    # When a basic-table character is sent alone
    result = segment(char)
    # Then it is GSM-7 and costs one septet
    assert result == Segmentation(Encoding.GSM7, 1, 1)


@pytest.mark.parametrize("char", list(GSM7_EXTENSION))
def test_every_extension_character_is_two_gsm7_septets(char: str) -> None:
    assert segment(char) == Segmentation(Encoding.GSM7, 2, 1)


def test_the_whole_gsm7_alphabet_together_stays_gsm7() -> None:
    result = segment(GSM7_BASIC + GSM7_EXTENSION)
    assert result.encoding is Encoding.GSM7
    assert result.units == 127 + 2 * 10


@pytest.mark.parametrize(
    "char",
    [
        "ç",  # only uppercase Ç is in the table
        "\t",  # 0x09 is Ç, not a tab
        "\x1b",  # the escape itself is not a character
        "`",
        "á",
        "í",
        "ó",
        "ú",
        "À",
        "È",
        "ÿ",
        "ê",
        "\N{GREEK CAPITAL LETTER ALPHA}",  # looks like A, is not A
        "\N{GREEK SMALL LETTER ALPHA}",
        "\N{OHM SIGN}",  # looks like Ω, is not GREEK CAPITAL LETTER OMEGA
        "\N{NO-BREAK SPACE}",
        "\N{RIGHT SINGLE QUOTATION MARK}",
        "\N{EN DASH}",
        "\N{FULLWIDTH POUND SIGN}",  # £ itself is GSM-7
        CYRILLIC,
        "中",
    ],
)
def test_a_character_outside_gsm_03_38_forces_ucs2(char: str) -> None:
    # Given GSM-7 text with one foreign character in the middle
    text = "Hello " + char + " world"
    # When it is segmented
    result = segment(text)
    # Then the whole message is UCS-2, counted in UTF-16 code units
    assert result.encoding is Encoding.UCS2
    assert result.units == len(text.encode("utf-16-le")) // 2


def test_uppercase_c_cedilla_is_gsm7_but_lowercase_is_not() -> None:
    assert segment("Ç").encoding is Encoding.GSM7
    assert segment("ç").encoding is Encoding.UCS2


def test_line_feed_and_carriage_return_are_gsm7() -> None:
    assert segment("a\nb\r\nc") == Segmentation(Encoding.GSM7, 6, 1)


def test_form_feed_is_an_extension_character() -> None:
    assert segment("a\fb") == Segmentation(Encoding.GSM7, 4, 1)


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (153, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4), (1600, 11)],
)
def test_gsm7_part_boundaries(length: int, parts: int) -> None:
    # Given plain GSM-7 text of a given length
    # When it is segmented
    result = segment("a" * length)
    # Then one part holds 160 septets, and each part of a multipart message holds 153
    assert result == Segmentation(Encoding.GSM7, length, parts)


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (67, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4), (1600, 24)],
)
def test_ucs2_part_boundaries(length: int, parts: int) -> None:
    # Given BMP text outside GSM-7 of a given length
    # When it is segmented
    result = segment(CYRILLIC * length)
    # Then one part holds 70 units, and each part of a multipart message holds 67
    assert result == Segmentation(Encoding.UCS2, length, parts)


def test_a_non_gsm_character_at_the_end_recounts_the_whole_text_as_ucs2() -> None:
    # Given 200 GSM-7 characters (2 parts as GSM-7) then one Cyrillic letter
    result = segment("a" * 200 + CYRILLIC)
    # Then all 201 characters are UCS-2 units: 3 parts of 67
    assert result == Segmentation(Encoding.UCS2, 201, 3)


@pytest.mark.parametrize(("count", "parts"), [(80, 1), (81, 2)])
def test_extension_characters_count_twice(count: int, parts: int) -> None:
    # Given text made only of euro signs
    result = segment("€" * count)
    # Then each costs two septets
    assert result == Segmentation(Encoding.GSM7, 2 * count, parts)


def test_extension_characters_fill_a_multipart_part_without_splitting() -> None:
    # Given 153 euro signs: 306 septets, which naive division fits in 2 parts of 153
    result = segment("€" * 153)
    # Then a 153-septet part holds only 76 of them (152 septets), so they need 76 | 76 | 1
    assert math.ceil(result.units / 153) == 2
    assert result == Segmentation(Encoding.GSM7, 306, 3)
    # And 152 euro signs (304 septets) fill exactly 2 parts of 76
    assert segment("€" * 152) == Segmentation(Encoding.GSM7, 304, 2)


def test_an_extension_character_is_never_split_across_a_part_boundary() -> None:
    # Given 152 basic characters, a euro sign that would straddle septets 153/154, and 152 more
    text = "a" * 152 + "€" + "a" * 152
    # When it is segmented
    result = segment(text)
    # Then naive division says 2 parts, but the euro sign moves to part 2: 152 | 2+151 | 1
    assert result.units == 306
    assert math.ceil(result.units / 153) == 2
    assert result.parts == 3


def test_an_extension_character_that_ends_exactly_on_a_boundary_stays() -> None:
    # Given 151 basic characters and a euro sign filling septets 152-153, then more text
    result = segment("a" * 151 + "€" + "a" * 153)
    # Then nothing moves: 151 + 2 | 153, exactly two full parts
    assert result == Segmentation(Encoding.GSM7, 306, 2)


def test_an_extension_character_in_a_single_part_message_needs_no_room_for_headers() -> None:
    # Given 158 basic characters and a euro sign: 160 septets exactly
    assert segment("a" * 158 + "€") == Segmentation(Encoding.GSM7, 160, 1)
    # And one more septet tips it into two parts
    assert segment("a" * 159 + "€") == Segmentation(Encoding.GSM7, 161, 2)


def test_an_emoji_forces_ucs2_and_counts_two_units() -> None:
    # Given GSM-7 text with an emoji
    result = segment("ok " + EMOJI)
    # Then it is UCS-2, and the emoji is a surrogate pair
    assert result == Segmentation(Encoding.UCS2, 5, 1)


@pytest.mark.parametrize(("count", "units", "parts"), [(35, 70, 1), (36, 72, 2), (66, 132, 2), (67, 134, 3)])
def test_emoji_only_messages(count: int, units: int, parts: int) -> None:
    # Given text made only of emoji: 33 fit in a 67-unit part, with one unit left over
    result = segment(EMOJI * count)
    # Then 35 emoji fill one 70-unit part exactly, and multipart parts hold 33 each
    assert result == Segmentation(Encoding.UCS2, units, parts)


def test_an_emoji_is_never_split_across_a_part_boundary() -> None:
    # Given 66 BMP characters, an emoji that would straddle units 67/68, and 66 more
    text = CYRILLIC * 66 + EMOJI + CYRILLIC * 66
    # When it is segmented
    result = segment(text)
    # Then naive division says 2 parts, but the emoji moves to part 2: 66 | 2+65 | 1
    assert result.units == 134
    assert math.ceil(result.units / 67) == 2
    assert result.parts == 3


def test_an_emoji_after_a_gsm7_prefix_is_packed_from_the_start_of_the_text() -> None:
    # Given 66 GSM-7 characters, then an emoji at the 67 boundary, then 66 more GSM-7 characters
    result = segment("a" * 66 + EMOJI + "a" * 66)
    # Then the GSM-7 prefix is counted as UCS-2 too, and the emoji moves to part 2
    assert result == Segmentation(Encoding.UCS2, 134, 3)


def test_an_emoji_that_ends_exactly_on_a_boundary_stays() -> None:
    result = segment(CYRILLIC * 65 + EMOJI + CYRILLIC * 67)
    assert result == Segmentation(Encoding.UCS2, 134, 2)


gsm7_texts = st.text(alphabet=st.sampled_from(GSM7_BASIC + GSM7_EXTENSION), max_size=1700)
any_texts = st.one_of(
    gsm7_texts,
    st.text(max_size=1700),
    st.text(alphabet=st.sampled_from(GSM7_BASIC + GSM7_EXTENSION + CYRILLIC + EMOJI), max_size=1700),
)


@given(gsm7_texts)
def test_property_gsm7_text_is_gsm7_and_matches_a_reference_packing(text: str) -> None:
    result = segment(text)
    widths = [2 if char in GSM7_EXTENSION else 1 for char in text]
    assert result.encoding is Encoding.GSM7
    assert result.units == sum(widths)
    assert result.parts == reference_parts(widths, 160, 153)


@given(any_texts)
def test_property_parts_are_consistent_with_units(text: str) -> None:
    # When any text is segmented
    result = segment(text)
    is_gsm7 = all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)
    single, multi = (160, 153) if is_gsm7 else (70, 67)
    # Then the encoding is GSM-7 exactly when every character is in the GSM 03.38 tables
    assert result.encoding is (Encoding.GSM7 if is_gsm7 else Encoding.UCS2)
    if not is_gsm7:
        assert result.units == len(text.encode("utf-16-le", "surrogatepass")) // 2
    # And there is always at least one part, and only one exactly when the text fits in one
    assert result.parts >= 1
    assert (result.parts == 1) == (result.units <= single)
    if result.parts > 1:
        # And a multipart message has room for all its units
        assert result.parts * multi >= result.units
        # And every part but the last loses at most one unit to an unsplit pair
        assert (result.parts - 1) * (multi - 1) < result.units


@given(any_texts)
def test_property_ucs2_matches_a_reference_packing(text: str) -> None:
    result = segment(text)
    if result.encoding is Encoding.UCS2:
        widths = [2 if ord(char) > 0xFFFF else 1 for char in text]
        assert result.parts == reference_parts(widths, 70, 67)
