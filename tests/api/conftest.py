"""The ``api`` fixture of the endpoint tests: one app per test module (each test makes its own
sessions; a fresh app per test only costs time). A module may define its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.helpers import Api, module_api


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    yield from module_api()
