"""What a simulated user asks: the scenario's texts, or a mix of popular questions and one-off ones.

With `messages.repeat_share` set, that share of messages asks one of `popular_questions` fixed
questions, the k-th most popular 1/k^zipf_exponent as often as the first (a Zipf-like law, as real
help-desk traffic has); every other message is asked once only, so it can never be answered from a
cache. Without it, texts are picked at random and cut to a random length, as before.
"""

from __future__ import annotations

import functools
import itertools
import random

from harness.core.scenario.schema import Messages


@functools.cache
def popular_questions(texts: tuple[str, ...], count: int) -> tuple[str, ...]:
    """`count` distinct questions made from the texts: the texts first, then numbered variants of them."""
    return tuple(
        texts[k % len(texts)] + (f" (case {k // len(texts)})" if k >= len(texts) else "") for k in range(count)
    )


@functools.cache
def zipf_cumulative(count: int, exponent: float) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, count + 1)))


def random_length_text(messages: Messages, rng: random.Random) -> str:
    base = rng.choice(messages.texts)
    length = rng.randint(*messages.length_chars)
    return ((base + " ") * (length // (len(base) + 1) + 1))[:length].strip() or base


def question(messages: Messages, rng: random.Random, unique_tag: str) -> str:
    """The next question; `unique_tag` (different for every message) makes a one-off question unique."""
    if messages.repeat_share is None:
        return random_length_text(messages, rng)
    if rng.random() < messages.repeat_share:
        pool = popular_questions(tuple(messages.texts), messages.popular_questions)
        return rng.choices(pool, cum_weights=zipf_cumulative(len(pool), messages.zipf_exponent))[0]
    return f"{random_length_text(messages, rng)} (ref {unique_tag})"
