"""Small view helpers of the lecture view (#19): repeated Play ticks as one timeline chip."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.web.views.session import grouped
from tests.web.helpers import new_page


def chip(label: str, jump: int, past: bool = True) -> dict[str, object]:
    return {"label": label, "at": 0.0, "jump": jump, "past": past}


def test_runs_of_one_operation_are_one_chip() -> None:
    line = [chip("forward", -11), *[chip("tick", -k) for k in range(10, 2, -1)],
            chip("update", -2), chip("tick", -1), chip("tick", 0),
            chip("tick", 1, False), chip("tick", 2, False), chip("reset", 3, False)]
    got = [(t["label"], t["count"], t["jump"], t["past"]) for t in grouped(line)]
    assert got == [("forward", 1, -11, True),
                   ("tick", 8, -3, True),  # eight ticks: to the state after the eighth
                   ("update", 1, -2, True),
                   ("tick", 2, 0, True),  # the current state ends its run
                   ("tick", 2, 2, False),  # redo side: never merged with the past
                   ("reset", 1, 3, False)]
    assert grouped([]) == []


def test_play_ticks_show_as_one_chip_on_the_page(client: TestClient) -> None:
    path = new_page(client, "seed-xor")
    for _ in range(5):
        assert client.post(f"{path}/tick?play=1", data={"have": ""}).status_code == 200
    page = client.get(path).text
    timeline = page[page.index('class="timeline"'):]
    timeline = timeline[:timeline.index("</ol>")]
    assert timeline.count("<li") == 1 and ">Play ×5</span>" in timeline
