"""Play pushed over one stream (GET /s/{id}/play, app/web/routes/play.py): frames with only what
changed, the frame size bound, Pause (the page closes the stream), divergence, the tick budget,
a change made elsewhere, a session that is gone, the server's stream limit (the page polls
instead), gzip, and watchers following a session that plays."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Iterator

from fastapi.testclient import TestClient

from tests.web.helpers import API, section, state

REGIONS = ("diagram", "inspector", "data", "loss", "status", "undo")
Event = tuple[str, str]  # (event name, data)


def sent(html: str) -> list[str]:
    return re.findall(r'<(?:section|aside|div) id="([\w-]+)"[^>]*hx-swap-oob="true"', html)


def events(lines: Iterator[str]) -> Iterator[Event]:
    """The events of an event stream as EventSource parses them (name, data lines joined)."""
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "data:":
            data.append("")


def play(client: TestClient, sid: str, count: int, n: int = 10,
         between: Callable[[int], None] | None = None) -> list[Event]:
    """The first ``count`` events of the session's Play stream (fewer if it ends), then the
    stream is closed as the page closes it; ``between(i)`` runs after the i-th event."""
    out: list[Event] = []
    with client.stream("GET", f"/s/{sid}/play?n={n}") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for e in events(r.iter_lines()):
            out.append(e)
            if between is not None:
                between(len(out))
            if len(out) >= count:
                break
    return out


def new_session(client: TestClient, **body: object) -> str:
    r = client.post(f"{API}/sessions", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_frames_send_only_what_changed_and_train_each_tick(
        make_client: Callable[..., TestClient]) -> None:
    # A budget no loaded machine reaches: every tick trains its 10 epochs.
    # Ticks 0.5 s apart: the stream is closed (after the third) long before a fourth is due.
    client = make_client(tick_budget=30.0, play_interval=0.5)
    sid = new_session(client, preset="spiral")
    frames = play(client, sid, 3)
    assert [name for name, _ in frames] == ["frame"] * 3
    first, second = frames[0][1], frames[1][1]
    assert sent(first) == list(REGIONS)  # the page holds the full regions: all sent, lean
    diagram = section(first, "diagram")
    assert "<a " not in diagram and diagram.count("<path ") == 2 * 8 + 8 * 8 + 8 * 1
    # The stream remembers what it sent: the unchanged inspector is not sent again, and no
    # hashes travel (the polling page's hidden input is not needed).
    assert sent(second) == ["diagram", "data", "loss", "status", "undo"]
    assert 'id="tick-have"' not in first + second
    assert state(client, f"/s/{sid}")["epoch"] == 30


def test_the_largest_of_100_frames_is_at_most_30_kb(
        make_client: Callable[..., TestClient]) -> None:
    # Issues #13 and #22: every frame (the largest of 100 ticks, not the typical one) at most
    # 30 KB, spiral with every picture on: each layer's neuron pictures in one palette image,
    # the data plot's heatmap, the sample marks a cached image.
    client = make_client(play_interval=0.05)
    sid = new_session(client, preset="spiral")
    frames = play(client, sid, 100)
    assert len(frames) == 100 and all(name == "frame" for name, _ in frames)
    sizes = [len(html.encode()) for _, html in frames]
    assert max(sizes) <= 30 * 1024, max(sizes)
    last = frames[-1][1]
    assert last.count('<image id="hs-') == 4 and "data:image/png" in section(last, "data")
    assert state(client, f"/s/{sid}")["epoch"] >= 100  # every tick trained


def test_closing_the_stream_stops_training(make_client: Callable[..., TestClient]) -> None:
    """Pause: the page closes the stream before its request leaves; no tick follows."""
    client = make_client(play_interval=0.05)
    sid = new_session(client, preset="spiral")
    play(client, sid, 4)
    epoch = state(client, f"/s/{sid}")["epoch"]
    assert epoch > 0
    client.post(f"/s/{sid}/do", data={"op": "pause"}, headers={"HX-Request": "true"})
    time.sleep(0.3)  # six intervals: a stream still open would have ticked
    assert state(client, f"/s/{sid}")["epoch"] == epoch


def test_pause_stops_the_stream_where_the_page_shows_it(
        make_client: Callable[..., TestClient]) -> None:
    """Pause reaches the server while the stream is still open (the page has closed it, the
    server has not noticed yet): no tick starts after Pause, and Pause's page shows the epoch
    where training stopped."""
    client = make_client(play_interval=0.05)
    sid = new_session(client, preset="spiral")
    shown: list[str] = []

    def press_pause(i: int) -> None:
        if i == 2:
            r = client.post(f"/s/{sid}/do", data={"op": "pause"}, headers={"HX-Request": "true"})
            m = re.search(r'id="epoch"[^>]*>(\d+)<', r.text)
            assert m, "the page shows the epoch"
            shown.append(m.group(1))

    frames = play(client, sid, 50, between=press_pause)
    assert [name for name, _ in frames] in (["frame"] * 2, ["frame"] * 3)  # then it ended
    epoch = state(client, f"/s/{sid}")["epoch"]
    assert shown == [str(epoch)]
    time.sleep(0.3)
    assert state(client, f"/s/{sid}")["epoch"] == epoch


def test_divergence_stops_with_the_full_regions(client: TestClient) -> None:
    sid = new_session(client, preset="plane-regression", learning_rate=100)
    frames = play(client, sid, 50, n=1000)
    name, html = frames[-1]
    assert name == "stop" and len(frames) < 50  # the stream ended by itself
    assert state(client, f"/s/{sid}")["status"] == "diverged"
    assert "hx-get" in section(html, "diagram")  # clickable again
    # The controls (Play, not Pause) and a player that does not play.
    assert 'id="controls"' in html and 'value="play"' in html
    player = re.search(r'<div id="player"[^>]*>', html)
    assert player and "data-play" not in player.group(0)


def test_a_tick_trains_within_its_budget(make_client: Callable[..., TestClient]) -> None:
    client = make_client(tick_budget=0.001, play_interval=0.05)
    sid = new_session(client, preset="spiral")
    frames = play(client, sid, 2, n=1000)
    assert [name for name, _ in frames] == ["frame", "frame"]  # still playing
    assert 2 <= state(client, f"/s/{sid}")["epoch"] < 2000  # stopped by the budget each tick


def test_a_change_made_elsewhere_ends_play(make_client: Callable[..., TestClient]) -> None:
    """A step from another tab or the API while this page plays: Play ends there, and the page
    gets the session as it now is."""
    client = make_client(play_interval=0.05)
    sid = new_session(client, preset="spiral")

    def step(i: int) -> None:
        if i == 2:
            assert client.post(f"{API}/sessions/{sid}/step").status_code == 200

    frames = play(client, sid, 10, between=step)
    # (A frame made before the step may still arrive.)
    names = [name for name, _ in frames]
    assert names[-1] == "stop" and names[:-1] in (["frame"] * 2, ["frame"] * 3)
    assert 'id="controls"' in frames[-1][1]
    assert state(client, f"/s/{sid}")["cursor"]["next"] == "forward"
    assert state(client, f"/s/{sid}")["cursor"]["layer"] == 2  # the step stands


def test_a_session_that_is_gone_ends_the_stream(make_client: Callable[..., TestClient]
                                                 ) -> None:
    client = make_client(play_interval=0.05)
    sid = new_session(client, preset="spiral")

    def delete(i: int) -> None:
        if i == 1:
            assert client.delete(f"{API}/sessions/{sid}").status_code == 204

    frames = play(client, sid, 10, between=delete)
    # (A frame already made before the delete may still arrive.) Nothing to show: the page
    # stays as it is.
    assert frames[-1] == ("stop", "") and len(frames) <= 3
    # Opened for a session that does not exist: 404 (the page's EventSource then fails and
    # falls back to POST /tick, which answers 286: Play stops there too).
    for sid_ in (sid, "nope", "x" * 5000):
        with client.stream("GET", f"/s/{sid_}/play?n=10") as r:
            assert r.status_code == 404
            assert not r.headers["content-type"].startswith("text/event-stream")
    assert client.post(f"/s/{sid}/tick?n=10", headers={"HX-Request": "true"}).status_code == 286


def test_hostile_queries_play_at_the_defaults(make_client: Callable[..., TestClient]) -> None:
    """Whatever the query, a stream plays within its bounds: a bad ``n`` plays at 10 epochs a
    tick, a bad ``sel`` selects nothing; no 500, no hang."""
    client = make_client(play_interval=0.05)
    sid = new_session(client, preset="spiral")
    epoch = 0
    for query in ("n=abc", "n=-5", "n=999999999", "n=" + "9" * 5000, "n=1e400", "n=",
                  "sel=" + "w" * 10_000, "sel=%00%ff", "sel=n-9-9", "log=2&play=0&n=10&n=20",
                  "junk=" + "x" * 2000):
        with client.stream("GET", f"/s/{sid}/play?{query}") as r:
            assert r.status_code == 200, query
            got = []
            for e in events(r.iter_lines()):
                got.append(e)
                if len(got) == 2:
                    break
        assert [name for name, _ in got] == ["frame", "frame"], query
        assert "Internal Server Error" not in got[0][1]
        now = state(client, sid)["epoch"]
        if not query.startswith("sel=n-9") and not query.startswith("log="):
            # Two ticks at the default speed (a third may have started before the close).
            assert now - epoch in (20, 30), (query, now - epoch)
        epoch = now


def test_beyond_the_stream_limit_the_page_polls(make_client: Callable[..., TestClient]
                                                ) -> None:
    """Nobody is refused (a class behind one address included): past play_max_streams the
    page is told to poll POST /tick, which plays as before."""
    client = make_client(play_max_streams=0)
    sid = new_session(client, preset="spiral")
    assert play(client, sid, 5) == [("poll", "")]
    r = client.post(f"/s/{sid}/tick?n=10", headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="tick-have"' in r.text


def test_the_stream_is_one_gzip_stream(make_client: Callable[..., TestClient]) -> None:
    client = make_client(play_interval=0.05)
    sid = new_session(client, preset="spiral")
    with client.stream("GET", f"/s/{sid}/play", headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["cache-control"] == "no-cache"
        raw = b""
        for chunk in r.iter_raw():
            raw += chunk
            # Each event is flushed whole: what arrived so far decodes to complete events.
            text = zlib.decompressobj(31).decompress(raw).decode()
            if text.count("event: frame") >= 4:
                break
    assert text.endswith("\n\n")
    # Later frames repeat most of the earlier ones' markup: on the wire, the four frames
    # take less than half their decoded size.
    assert len(raw) < len(text.encode()) / 2


def test_watchers_follow_a_session_that_plays(client: TestClient) -> None:
    """Each tick of the stream is a change through the door: watchers get an event each."""
    sid = new_session(client, preset="spiral")
    assert client.post(f"{API}/sessions/{sid}/watch").status_code in (200, 201)
    hub = client.app.state.door.hub  # type: ignore[attr-defined]
    sub = hub.subscribe(sid, next(iter(hub._links)), "teacher-test")
    versions: list[int] = []

    def seen(i: int) -> None:
        if sub.latest is not None:
            versions.append(sub.latest["version"])
            sub.latest = None

    play(client, sid, 4, between=seen)
    hub.unsubscribe(sub)
    assert len(versions) >= 3 and versions == sorted(set(versions))
