"""The question mix: a settable share of repeated questions, Zipf-like, and one-off questions that never repeat."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.core.scenario.config import ScenarioError, parse_scenario
from harness.loadgen.questions import popular_questions, question

pytestmark = pytest.mark.unit

DRAWS = 20_000


def messages(**fields):
    return parse_scenario({"messages": fields}, "q").messages


def test_a_set_share_of_messages_repeats_popular_questions_by_a_zipf_law():
    mix = messages(repeat_share=0.6, popular_questions=50, zipf_exponent=1.0)
    rng = random.Random(7)
    asked = [question(mix, rng, f"u-{n}") for n in range(DRAWS)]
    pool = set(popular_questions(tuple(mix.texts), 50))
    repeats = Counter(q for q in asked if q in pool)
    one_offs = [q for q in asked if q not in pool]
    assert abs(sum(repeats.values()) / DRAWS - 0.6) < 0.02
    assert len(set(one_offs)) == len(one_offs)  # asked once only: never a cache hit
    ranked = popular_questions(tuple(mix.texts), 50)
    # the k-th most popular is asked 1/k as often as the first (exponent 1)
    assert 1.7 < repeats[ranked[0]] / repeats[ranked[1]] < 2.3
    assert 3.3 < repeats[ranked[0]] / repeats[ranked[3]] < 4.8
    assert len(pool) == 50 and all(q.startswith(tuple(mix.texts)) for q in pool)


def test_exponent_zero_asks_every_popular_question_alike_and_share_one_never_a_one_off():
    mix = messages(repeat_share=1.0, popular_questions=4, zipf_exponent=0.0)
    rng = random.Random(3)
    counts = Counter(question(mix, rng, str(n)) for n in range(DRAWS))
    assert len(counts) == 4 and min(counts.values()) > DRAWS / 4 * 0.9


def test_without_repeat_share_texts_come_at_random_lengths_as_before():
    mix = messages(texts=["abc def"], length_chars=[3, 5])
    rng = random.Random(1)
    asked = {question(mix, rng, str(n)) for n in range(200)}
    assert asked == {"abc", "abc d"}  # "abc def" cut to 3, 4 ("abc ", stripped) or 5 characters


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"repeat_share": 1.5}, "messages.repeat_share: must be between 0 and 1, got 1.5"),
        ({"popular_questions": 0}, "messages.popular_questions: must be between 1 and 100000, got 0"),
    ],
)
def test_bad_mix_settings_are_refused_naming_the_field(fields, problem):
    with pytest.raises(ScenarioError, match=problem.replace("(", r"\(")):
        messages(**fields)
