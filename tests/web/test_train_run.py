"""Train N on the page (app/web/views/train_run.py): with htmx a run of chunks with a progress bar,
Cancel and a live region that speaks at the start, every tenth at most and the end; without
JavaScript one call's worth per press, the message saying how many remain, and Continue; in
Korean; and watchers see the same progress."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.helpers import API, HX, new_page, state


def player(html: str) -> str:
    m = re.search(r'<div id="player"[^>]*>', html)
    assert m
    return m.group(0)


def progress(html: str) -> tuple[int, int]:
    m = re.search(r'<progress id="run-progress" max="(\d+)" value="(\d+)" '
                  r'aria-valuenow="(\d+)"', html)
    assert m, "a progress bar"
    assert m.group(2) == m.group(3)
    return int(m.group(2)), int(m.group(1))


def announced(html: str) -> list[str]:
    return re.findall(r'<div id="announce" hx-swap-oob="innerHTML">([^<]*)</div>', html)


def test_train_runs_to_the_end_by_itself_with_a_progress_bar(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client(run_chunk_budget=1e-9, create_rate_limit=0)  # one kernel chunk each
    path = new_page(c, "xor-bias")
    c.patch(f"{API}/sessions/{path.rsplit('/', 1)[-1]}", json={"batch_size": 1})
    r = c.post(f"{path}/do", data={"op": "train", "epochs": "2000"}, headers=HX)
    html = r.text
    assert 'class="playing running"' in player(html) and 'hx-trigger="every 250ms"' in html
    done, total = progress(html)
    assert total == 2000 and 0 < done < 2000
    assert announced(html) == ["Training 2,000 epochs; the page goes on by itself. Press "
                               "Cancel or Escape to stop and keep what is trained."]
    # While it runs, Play's button is Pause (which cancels) and Cancel is there.
    assert 'id="op-play" type="submit" name="op" value="pause"' in html
    assert 'id="run-cancel"' in html and 'id="run-continue"' not in html
    url = re.search(r'hx-post="([^"]*tick\?run=[^"]*)"', html).group(1)  # type: ignore[union-attr]
    said: list[str] = []
    seen = [done]
    while True:
        r = c.post(url, data={"have": ""}, headers=HX)
        said += announced(r.text)
        if r.status_code == 286:
            break
        assert r.status_code == 200
        seen.append(progress(r.text)[0])
    assert seen == sorted(seen) and len(seen) >= 5, "the bar moves forward"
    # The live region: every tenth at most (here each chunk is under a tenth), then the end.
    assert said[-1] == "Trained 2000 epochs."
    assert 1 <= len(said) - 1 <= 9 and all(s.startswith("Training: ") for s in said[:-1])
    tenths = [int(s.split(": ")[1].split(" ")[0]) // 10 for s in said[:-1]]
    assert tenths == sorted(set(tenths))
    end = r.text
    assert 'id="op-play" type="submit" name="op" value="play"' in end  # the toolbar is back
    assert '<section id="run" class="run" hx-swap-oob="true" aria-label="Training run" hidden>' \
        in end
    assert "Train ×2,000" in end  # the timeline's one entry for the run
    s = state(c, path)
    assert s["epoch"] == 2000 and s["undo"] == {"back": 2, "forward": 0}  # batch size, run


def test_without_javascript_each_press_is_one_call_and_says_what_remains(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client(train_time_budget=1e-9, create_rate_limit=0)
    path = new_page(c, "xor-bias")
    c.patch(f"{API}/sessions/{path.rsplit('/', 1)[-1]}", json={"batch_size": 1})
    page = c.post(f"{path}/do", data={"op": "train", "epochs": "2000"}).text  # redirected
    ran = state(c, path)["epoch"]
    assert 0 < ran < 2000
    assert (f"Trained {ran} epochs, then stopped: the time budget of one call was reached. "
            f"{2000 - ran:,} epochs of 2,000 remain: press Continue.") in page
    assert progress(page) == (ran, 2000)
    assert 'class="playing' not in player(page)  # nothing polls without a press
    run_id = re.search(r'name="run" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert 'id="run-continue"' in page
    page = c.post(f"{path}/do", data={"op": "continue", "run": run_id}).text
    more = state(c, path)
    assert more["epoch"] > ran and more["undo"] == {"back": 2, "forward": 0}  # patch, run
    assert progress(page) == (more["epoch"], 2000)
    page = c.post(f"{path}/do", data={"op": "cancel", "run": run_id}).text
    assert f"Cancelled: the {more['epoch']:,} epochs trained so far are kept" in page
    assert 'id="run-progress"' not in page
    # Continue after the run has ended: nothing happens, and the page says why.
    page = c.post(f"{path}/do", data={"op": "continue", "run": run_id}).text
    assert "That training run has already ended." in page
    assert state(c, path)["epoch"] == more["epoch"]


def test_a_reloaded_page_shows_the_run_with_continue(make_client: Callable[..., TestClient]
                                                     ) -> None:
    c = make_client(run_chunk_budget=1e-9, create_rate_limit=0)
    path = new_page(c, "xor-bias")
    c.patch(f"{API}/sessions/{path.rsplit('/', 1)[-1]}", json={"batch_size": 1})
    c.post(f"{path}/do", data={"op": "train", "epochs": "2000"}, headers=HX)
    page = c.get(path).text  # the tab was reloaded mid-run: the page does not train by itself
    assert 'class="playing' not in player(page)
    assert 'id="run-continue"' in page and 'id="run-cancel"' in page
    r = c.post(f"{path}/do", data={"op": "continue",
                                   "run": re.search(r'name="run" value="([^"]+)"', page)
                                   .group(1)}, headers=HX)  # type: ignore[union-attr]
    assert 'class="playing running"' in player(r.text)


def test_korean_run(make_client: Callable[..., TestClient]) -> None:
    c = make_client(run_chunk_budget=1e-9, create_rate_limit=0)
    path = new_page(c, "xor-bias")
    c.patch(f"{API}/sessions/{path.rsplit('/', 1)[-1]}", json={"batch_size": 1})
    r = c.post(f"{path}/do?lang=ko", data={"op": "train", "epochs": "2000"}, headers=HX)
    assert "2,000 에포크를 학습합니다." in r.text and "학습 ×2,000" in r.text
    assert ">취소</button>" in r.text and "2,000 에포크 중" in r.text


def test_watchers_see_the_progress(make_client: Callable[..., TestClient]) -> None:
    c = make_client(run_chunk_budget=1e-9, create_rate_limit=0)
    path = new_page(c, "xor-bias")
    sid = path.rsplit("/", 1)[-1]
    c.patch(f"{API}/sessions/{sid}", json={"batch_size": 1})
    c.post(f"{path}/share", data={})
    r = c.get(path)
    m = re.search(r'/w/([\w-]+)', r.text)
    assert m, "the Share panel shows the watch link"
    watch_id = m.group(1)
    c.post(f"{path}/do", data={"op": "train", "epochs": "2000"}, headers=HX)
    page = c.get(f"/w/{watch_id}").text
    done, total = progress(page)
    assert total == 2000 and done == state(c, path)["epoch"]
    assert "epochs/s" in page and 'id="run-cancel"' not in page  # no controls for watchers


def test_pause_during_a_run_cancels_it_and_otherwise_changes_nothing(
        make_client: Callable[..., TestClient]) -> None:
    c = make_client(run_chunk_budget=1e-9, create_rate_limit=0)
    path = new_page(c, "xor-bias")
    c.patch(f"{API}/sessions/{path.rsplit('/', 1)[-1]}", json={"batch_size": 1})
    html = c.post(f"{path}/do", data={"op": "train", "epochs": "2000"}, headers=HX).text
    # The toolbar's form names the run its Pause button stops.
    run_id = re.search(r'<input type="hidden" name="run" value="([^"]+)">\s*<button '
                       r'id="op-play"', html).group(1)  # type: ignore[union-attr]
    r = c.post(f"{path}/do", data={"op": "pause", "run": run_id}, headers=HX)
    assert "Cancelled: the " in r.text and 'id="run-progress"' not in r.text
    v = state(c, path)["version"]
    c.post(f"{path}/do", data={"op": "pause"}, headers=HX)  # Play's Pause: only the view
    assert state(c, path)["version"] == v
