"""A Play frame's remembered phrases fill their fields faster than markupsafe's formatter,
with the same result: each value escaped (a Markup value as itself), plain fields only."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from app.web.routes.tick import Phrase, _plain_fields

VALUES = {"n": 3, "i": 5, "values": "x₁ = <1>, y & 0", "loss": Markup("<b>L</b>"),
          "reduction": "sum", "x": 1.5, "big": 1e16, "none": None}


@pytest.mark.parametrize("text", [
    "{n} training samples", "Nodes: sample #{i} ({values}).", "{loss} ({reduction})",
    "{x} {big} {none}", "{{literal}} {n}", "{} then {}", "{0} and {0}", "no fields",
    "한국어 {n}개"])
def test_plain_phrases_format_as_markupsafe_does(text: str) -> None:
    assert _plain_fields(text)
    m = Markup(text)
    want = m.format("A<", "<B>", **VALUES)
    got = Phrase(m).format("A<", "<B>", **VALUES)
    assert type(got) is Markup and str(got) == str(want)
    assert "<1>" not in got  # escaped, not passed through


@pytest.mark.parametrize("text", ["{x:.2f}", "{x!r}", "{a.b}", "{v[0]}", "{n"])
def test_other_fields_are_not_plain(text: str) -> None:
    assert not _plain_fields(text)


def test_a_bad_call_fails_as_markupsafes() -> None:
    with pytest.raises(KeyError):
        Phrase(Markup("{missing}")).format(n=1)
    with pytest.raises(ValueError):
        Phrase(Markup("{} and {0}")).format("a")
