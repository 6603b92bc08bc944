"""What the encoder accepts as input: a text, or an (instruction, text) pair; anything else is refused by name."""

from __future__ import annotations

from typing import Any, Sequence, Union

EncoderInput = Union[str, tuple[str, str]]  # a text, or an (instruction, text) pair


def check_inputs(sentences: Sequence[Any]) -> list[tuple[str, str]]:
    """Normalise to (instruction, text) pairs; a ``TypeError`` names the first bad item."""
    pairs = []
    for index, item in enumerate(sentences):
        if isinstance(item, str):
            pair = ("", item)
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            pair = (item[0], item[1])
        else:
            raise TypeError(
                f"Item {index} is {item!r} ({type(item).__name__}); expected a string or an (instruction, text) "
                "pair of strings."
            )
        for part in pair:
            try:
                part.encode("utf-8")
            except UnicodeEncodeError as error:  # a lone surrogate, e.g. from a bad decode upstream
                raise ValueError(
                    f"Item {index} is not valid text: {error.reason} at character {error.start} "
                    f"({part[max(error.start - 10, 0) : error.start + 1]!r}); fix its decoding."
                ) from None
        pairs.append(pair)
    return pairs
