"""Every clickable element of the diagram (neuron, bias, weight) is written by one helper,
diagram.clickable: the same attributes, one tab stop, escaped text."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from app.web.drawing.diagram import clickable
from tests.web.helpers import new_page, section


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and dict(attrs).get("role") == "button":
            self.links.append(dict(attrs))


@dataclass
class El:
    id: str
    href: str
    aria: str
    selected: bool


def test_the_helper_escapes_and_marks_the_selection() -> None:
    html = clickable("edge", El("w-1-0-0", "/s/x?sel=w-1-0-0&log=1", 'a "b" <c>', True),
                     "w-1-0-0", 1, 0, "neg", "", "flow forward")
    assert html.startswith('<a id="w-1-0-0" href="/s/x?sel=w-1-0-0&amp;log=1" ')
    assert 'aria-label="a &#34;b&#34; &lt;c&gt;"' in html
    assert 'class="edge sel neg flow forward"' in html and 'aria-pressed="true"' in html
    assert 'tabindex="0"' in html and html.endswith("<title>a &#34;b&#34; &lt;c&gt;</title>")
    other = clickable("node", El("n-1-0", "/s/x", "h", False), "w-1-0-0", 2, 0)
    assert 'class="node"' in other and 'tabindex="-1"' in other


def test_neurons_biases_and_weights_share_one_shape(client: TestClient) -> None:
    path = new_page(client, "xor-bias")
    parser = Links()
    parser.feed(section(client.get(f"{path}?sel=b-1-0").text, "diagram"))
    kinds = {str(a["class"]).split()[0] for a in parser.links}
    assert kinds == {"node", "bias", "edge"}
    shapes = {tuple(a) for a in parser.links}
    assert len(shapes) == 1  # the same attributes, in the same order
    assert [a["id"] for a in parser.links if a["tabindex"] == "0"] == ["b-1-0"]
    assert [a["id"] for a in parser.links if a["aria-pressed"] == "true"] == ["b-1-0"]
    for a in parser.links:  # a link selects its element; the selected one's link deselects
        want = path if a["id"] == "b-1-0" else f"{path}?sel={a['id']}"
        assert a["href"] == a["hx-get"] == want
