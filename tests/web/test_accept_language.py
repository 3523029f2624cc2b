"""Accept-Language negotiation (Babel's negotiate_locale over the header's tags by q) picks
what the hand-written matcher it replaced picked: the highest q among tags whose primary
subtag is a language we have, the first of equals, English when none."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.web.infra import i18n


def reference(header: str | None) -> str:
    """The matcher before Babel, as it was written in app/web/infra/i18n.py."""
    best, best_q = "en", 0.0
    for part in (header or "").split(","):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        q = 1.0
        for p in pieces[1:]:
            key, _, value = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag in ("en", "ko") and q > best_q:
            best, best_q = tag, q
    return best


def test_headers_browsers_send() -> None:
    assert i18n.negotiate(None, None, "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7") == "ko"
    assert i18n.negotiate(None, None, "de-DE, en;q=0.5, ko;q=0.6") == "ko"
    assert i18n.negotiate(None, None, "KO-kr") == "ko"
    assert i18n.negotiate(None, None, "fr, de;q=0.4") == "en"
    assert i18n.negotiate(None, None, "ko;q=0, en;q=0.1") == "en"
    assert i18n.negotiate(None, None, "ko;q=abc, en;q=0.1") == "en"
    assert i18n.negotiate(None, None, "en;q=0.5, ko;q=0.5") == "en"  # the first of equals
    assert i18n.negotiate(None, None, "*") == "en"


TAG = st.sampled_from(["en", "ko", "EN", "Ko", "ko-KR", "en-GB", "en_US", "ko-", "-ko", "de",
                       "fr-CA", "*", "", " ko ", "zh-Hant-TW", "kok", "x-ko"])
Q = st.sampled_from(["", ";q=1", ";q=0", ";q=0.5", ";q=0.50", ";q=0.9", ";q= 0.7", ";q=abc",
                     ";q=nan", ";q=inf", ";q=-1", ";Q=0.2", ";level=1", ";q=0.5;q=0.2"])


@given(st.lists(st.tuples(TAG, Q), max_size=6), st.sampled_from([", ", ",", " , "]))
def test_same_choice_as_the_hand_written_matcher(parts: list[tuple[str, str]], sep: str
                                                 ) -> None:
    header = sep.join(tag + q for tag, q in parts)
    assert i18n.negotiate(None, None, header) == reference(header)
