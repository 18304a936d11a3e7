"""harness.core.jsontext: the strict parser of every frame and body the emulator and the bot read."""

from __future__ import annotations

import pytest

from harness.core import jsontext

pytestmark = pytest.mark.unit

BIG = 123456789012345678901234567890  # beyond 64 bits: orjson alone would read a float


@pytest.mark.parametrize("as_bytes", [False, True])
def test_integers_beyond_64_bits_stay_exact_in_text_and_bytes(as_bytes: bool) -> None:
    doc = f'{{"id": {BIG}, "list": [1, {2**64}, -{2**70}]}}'
    value = jsontext.parse(doc.encode() if as_bytes else doc)
    assert value == {"id": BIG, "list": [1, 2**64, -(2**70)]}
    assert all(isinstance(v, int) for v in value["list"])


def test_a_19_digit_run_at_the_very_end_or_after_non_ascii_text_is_seen() -> None:
    assert jsontext.parse("[" + "9" * 25 + "]") == [int("9" * 25)]
    assert jsontext.parse('{"名字": "é", "n": ' + "7" * 22 + "}") == {"名字": "é", "n": int("7" * 22)}


def test_documents_without_long_integers_parse_the_same_either_way() -> None:
    doc = '{"createAt": 1764570000000, "n": 18446744073709551615, "text": "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠", "f": 1.5}'
    assert jsontext.parse(doc) == {
        "createAt": 1764570000000,
        "n": 18446744073709551615,
        "text": "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠",
        "f": 1.5,
    }


def test_text_with_a_lone_surrogate_and_a_long_digit_run_parses_and_constants_are_refused() -> None:
    assert jsontext.parse('["\ud800", ' + "1" * 20 + "]") == ["\ud800", int("1" * 20)]
    with pytest.raises(ValueError, match="not a JSON number"):
        jsontext.parse('{"x": NaN}')
