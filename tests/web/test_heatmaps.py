"""Per-neuron heatmaps (pixels against a reference forward pass written here), their cache,
and sample-versus-batch gradients on the page against an independent reference."""

from __future__ import annotations

import base64
import re
import zlib

import numpy as np
from fastapi.testclient import TestClient

from app.config import Settings
from app.sessions.config import SessionConfig, normalize
from app.sessions.model import Session
from app.web.drawing import heatmaps
from app.web.infra.fmt import NEG, POS, num
from tests.api.helpers import XOR_X, XOR_Y, lesson_weights, ref_sigmoid_pass
from tests.web.helpers import HX, new_page, op, section, state, text


def decode_png(uri: str) -> np.ndarray:
    """An 8-bit RGB or palette, filter-0 PNG (what the app writes) back to RGB pixels, by the
    PNG spec (each chunk's CRC checked)."""
    raw = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, colour, palette = 8, b"", 0, 2, b""
    while pos < len(raw):
        n = int.from_bytes(raw[pos:pos + 4], "big")
        tag, data = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + n]
        assert zlib.crc32(tag + data) == int.from_bytes(raw[pos + 8 + n:pos + 12 + n], "big")
        if tag == b"IHDR":
            w, h = int.from_bytes(data[:4], "big"), int.from_bytes(data[4:8], "big")
            assert data[8] == 8  # bit depth
            colour = data[9]
        elif tag == b"PLTE":
            palette = data
        elif tag == b"IDAT":
            idat += data
        pos += 12 + n
    per_pixel = 3 if colour == 2 else 1
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + per_pixel * w)
    assert (rows[:, 0] == 0).all()
    if colour == 2:
        return rows[:, 1:].reshape(h, w, 3)
    assert colour == 3 and palette
    table = np.frombuffer(palette, dtype=np.uint8).reshape(-1, 3)
    return table[rows[:, 1:]]


def session(**cfg: object) -> Session:
    settings = Settings()
    return Session.create(normalize(SessionConfig.model_validate(cfg), settings), settings)


def test_every_neuron_image_matches_a_reference_forward_pass() -> None:
    s = session(preset="xor-bias", layers=[3, 3, 1], features=["x1", "x2", "x1_x2"])
    net = s.trainer.net
    cache = heatmaps.LRU(4)
    maps = heatmaps.neuron_maps(net, ["x1", "x2", "x1_x2"], (-0.5, 1.5), cache)
    assert [len(r) for r in maps.images] == [3, 3, 1]
    g = np.linspace(-0.5, 1.5, heatmaps.GRID)
    # Top-left pixel: x₁ = −0.5, x₂ = 1.5; bottom-right: x₁ = 1.5, x₂ = −0.5.
    for (r, c), (x1, x2) in {(0, 0): (-0.5, 1.5), (heatmaps.GRID - 1, heatmaps.GRID - 1):
                             (1.5, -0.5), (0, heatmaps.GRID - 1): (1.5, 1.5)}.items():
        assert g[c] == x1 and g[::-1][r] == x2
        phi = np.array([x1, x2, x1 * x2])
        h = np.tanh(phi @ net.W[0] + net.b[0])  # type: ignore[index]
        out = 1 / (1 + np.exp(-(h @ net.W[1] + net.b[1])))  # type: ignore[index]
        for j in range(3):
            px = decode_png(maps.images[1][j])[r, c].astype(float)
            assert_colour(px, h[j], -1.0, 1.0)
        assert_colour(decode_png(maps.images[2][0])[r, c].astype(float), out[0], 0.0, 1.0)
        # x₁x₂ spans ±2.25 on this square (its largest |value|), scaled to the same palette.
        assert_colour(decode_png(maps.images[0][2])[r, c].astype(float), x1 * x2, -2.25, 2.25)
    assert maps.input_max == [1.5, 1.5, 2.25]


def assert_colour(px: np.ndarray, v: float, lo: float, hi: float) -> None:
    """The palette by its definition: white at the middle, blue (POS) at hi, orange (NEG) at lo."""
    mid = (lo + hi) / 2
    t = min(abs(v - mid) / (hi - mid), 1.0)
    end = np.array(POS if v >= mid else NEG, dtype=float)
    want = np.array([247.0, 247.0, 247.0]) + (end - 247.0) * t
    assert np.all(np.abs(px - want) <= 1.0), (px, want, v)


def test_play_frames_use_the_same_scale_in_31_shades() -> None:
    """While playing (live), each picture is quantised to 31 shades of the same scale, as TF
    Playground does: every pixel is the shade nearest to the reference value."""
    s = session(preset="xor-bias", layers=[3, 3, 1], features=["x1", "x2", "x1_x2"])
    net = s.trainer.net
    grid = heatmaps.PLAY_GRID
    maps = heatmaps.neuron_maps(net, ["x1", "x2", "x1_x2"], (-0.5, 1.5), heatmaps.LRU(4),
                                grid=grid, live=True)
    g = np.linspace(-0.5, 1.5, grid)
    x1, x2 = np.meshgrid(g, g[::-1])
    phi = np.stack([x1.ravel(), x2.ravel(), (x1 * x2).ravel()], axis=1)
    h = np.tanh(phi @ net.W[0] + net.b[0])  # type: ignore[index]
    out = 1 / (1 + np.exp(-(h @ net.W[1] + net.b[1])))  # type: ignore[index]

    def shade(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """The k-th of 31 shades spans lo … hi evenly; its colour is the continuous scale's
        colour at that value."""
        k = np.rint((np.clip(v, lo, hi) - lo) / (hi - lo) * 30)
        centre = lo + k / 30 * (hi - lo)
        mid = (lo + hi) / 2
        t = np.minimum(np.abs(centre - mid) / (hi - mid), 1.0)[:, None]
        end = np.where((centre >= mid)[:, None], np.array(POS, float), np.array(NEG, float))
        return np.array([247.0, 247.0, 247.0]) + (end - 247.0) * t

    pad = heatmaps.SPRITE_PAD

    def tile(layer: int, j: int) -> np.ndarray:
        """Neuron j's tile of its layer's picture, without the repeated edge rows."""
        sprite = decode_png(maps.sprites[layer])
        stride = grid + 2 * pad
        t = sprite[j * stride:(j + 1) * stride]
        assert (t[0] == t[pad]).all() and (t[-1] == t[-1 - pad]).all()  # edges repeated
        return t[pad:pad + grid].reshape(-1, 3).astype(float)

    assert maps.images == [[heatmaps.SPRITE] * 3, [heatmaps.SPRITE] * 3, [heatmaps.SPRITE]]
    for j in range(3):
        assert np.all(np.abs(tile(1, j) - shade(h[:, j], -1.0, 1.0)) <= 1.0), j
    assert np.all(np.abs(tile(2, 0) - shade(out[:, 0], 0.0, 1.0)) <= 1.0)
    assert np.all(np.abs(tile(0, 2) - shade(phi[:, 2], -2.25, 2.25)) <= 1.0)
    # Fewer bytes than the RGB pictures of the same grid.
    rgb = heatmaps.neuron_maps(net, ["x1", "x2", "x1_x2"], (-0.5, 1.5), heatmaps.LRU(4),
                               grid=grid)
    assert len(maps.sprites[1]) < 0.5 * sum(map(len, rgb.images[1]))


def test_cache_renders_once_per_weights_version() -> None:
    s = session(preset="circle")
    cache = heatmaps.LRU(2)
    a = heatmaps.neuron_maps(s.trainer.net, ["x1", "x2"], (-6.0, 6.0), cache)
    b = heatmaps.neuron_maps(s.trainer.net, ["x1", "x2"], (-6.0, 6.0), cache)
    assert a is b and (cache.hits, cache.misses) == (1, 1)
    s.trainer.run(1)
    c = heatmaps.neuron_maps(s.trainer.net, ["x1", "x2"], (-6.0, 6.0), cache)
    assert c is not a and cache.misses == 2 and c.images[1] != a.images[1]
    assert c.images[0] == a.images[0]  # the inputs do not depend on the weights
    for _ in range(3):
        s.trainer.run(1)
        heatmaps.neuron_maps(s.trainer.net, ["x1", "x2"], (-6.0, 6.0), cache)
    assert len(cache._d) == 2  # bounded


def test_page_shows_an_image_per_neuron_and_a_large_one_when_selected(
        client: TestClient) -> None:
    path = new_page(client, "spiral")
    page = client.get(path).text
    diagram = section(page, "diagram")
    for l, n in enumerate((2, 8, 8, 1)):
        for j in range(n):
            m = re.search(rf'<a id="n-{l}-{j}"[^>]*>.*?</a>', diagram, re.S)
            assert m, (l, j)
            block = m.group(0)
            assert re.search(r'class="(nheat|dotheat)" href="data:image/png;base64,', block), (l, j)
    assert "Neuron pictures" in diagram
    insp = client.get(path + "?sel=n-2-3", headers=HX).text
    assert re.search(r'<figure class="inspector-heat" id="inspector-heat">\s*<img src="data:'
                     r'image/png;base64,', insp)
    # Not for data that is not 2-D.
    r = client.post("/api/v1/sessions", json={"layers": [3, 2, 1], "dataset": {
        "X": [[0, 1, 2]], "Y": [[1]]}})
    page = client.get("/s/" + r.json()["id"]).text
    assert "nheat" not in page and "Neuron pictures" not in page


def test_edge_shows_the_sample_term_and_the_batch_sum(client: TestClient) -> None:
    path = new_page(client)
    for _ in range(4):
        page = op(client, path, "step")
    s = state(client, path)
    f = s["config"]["focus"]
    assert s["batch"]["X"][f] == [1, 0]
    W1, W2 = lesson_weights()
    ref = ref_sigmoid_pass([W1, W2], None, XOR_X, XOR_Y)
    m = re.search(r'<p class="sample-note" id="sample-note">(.*?)</p>', page, re.S)
    assert m
    note = text(m.group(1))
    assert "sample #3" in note and "x₁\u00a0=\u00a01" in note and "4 samples" in note
    g = float(ref["grad_W"][1][0, 0])
    assert ("Σ∂ " + ("+" if g > 0 else "") + num(g)) in text(section(page, "diagram"))
    insp = text(section(client.get(path + "?sel=w-2-0-0", headers=HX).text, "inspector"))
    term = float(ref["a"][0][2, 0] * ref["delta"][1][2, 0])  # sample 2: a₁⁽¹⁾ · δ₁⁽²⁾
    assert "This sample's term (sample #3)" in insp
    assert num(term, 6) in insp
    assert "the sum over the batch (4 samples)" in insp
    assert num(float(ref["grad_W"][1][0, 0]), 6) in insp


def test_play_ticks_show_values_of_the_batch(client: TestClient) -> None:
    path = new_page(client)
    r = client.post(f"{path}/tick?play=1&n=1", headers=HX)
    assert r.status_code == 200
    frag = r.text
    s = state(client, path)
    assert s["epoch"] == 1 and s["layers"][0]["z"] is None  # no pass in progress
    from tests.api.helpers import arr
    ref = ref_sigmoid_pass([arr(s["layers"][0]["W"]), arr(s["layers"][1]["W"])], None,
                           XOR_X, XOR_Y)
    f = s["config"]["focus"]
    for j in range(4):
        # (the lean Play frame draws each neuron as a <g>, the full page as a link)
        m = re.search(rf'<(?:a|g) id="n-1-{j}".*?data-k="a"[^>]*>([^<]+)<', frag, re.S)
        assert m and m.group(1) == num(float(ref["a"][0][f, j])), j
    # Each layer's pictures in one image, each card showing its own tile of it.
    assert re.search(r'<image id="hs-1" href="data:image/png;base64,[^"]+" width="16" '
                     r'height="72"', frag)
    assert re.search(r'<svg class="nheat" [^>]*viewBox="0 55 16 16"[^>]*><use href="#hs-1"/>',
                     frag)  # neuron 3 of 4: rows 3·18 + 1 …
    assert "1 epoch per tick" in client.get(path + "?play=1&n=1").text
    # A selected neuron's large picture while playing: its own image, cut from its tile.
    r = client.post(f"{path}/tick?play=1&n=1&sel=n-1-2", headers=HX)
    insp = section(r.text, "inspector")
    m = re.search(r'<img src="(data:image/png;base64,[^"]+)"', insp)
    assert m and decode_png(m.group(1)).shape == (heatmaps.PLAY_GRID, heatmaps.PLAY_GRID, 3)


def test_the_lru_drops_the_least_recently_used_and_size_zero_keeps_nothing() -> None:
    cache: heatmaps.LRU[int] = heatmaps.LRU(2)
    cache.put(b"a", 1)
    cache.put(b"b", 2)
    assert cache.get(b"a") == 1  # a is now the most recently used
    cache.put(b"c", 3)  # evicts b
    assert (cache.get(b"b"), cache.get(b"a"), cache.get(b"c")) == (None, 1, 3)
    assert (cache.hits, cache.misses) == (3, 1)
    cache.size = 0  # the heatmap_cache setting at 0: nothing is kept
    cache.put(b"d", 4)
    assert cache.get(b"d") is None and cache.get(b"a") is None
