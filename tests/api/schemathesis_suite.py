"""schemathesis against the app's own OpenAPI schema: the examples, coverage and fuzzing phases
on every operation, then the stateful phase (create → operate → delete chains). Zero failures:
no 5xx, every status code, content type, header and body as the schema documents them.

Operations on one session get a real session id half of the time (the other half a generated
one: 404), so the fuzzed bodies reach the engine. The app runs with a short train budget and a
small gradcheck limit so the run stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from app.config import Settings
from app.main import create_app

BOUNDED = {"train_time_budget": 0.05, "gradcheck_max_work": 200_000, "max_sessions": 500,
           "max_samples": 500, "max_neurons": 16}


def load(app: Any) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Schema-valid requests may still be refused with 422 for rules JSON Schema cannot express
    # (the loss must suit the output activation, weights must match the layers, a sample
    # position must exist in the batch): 422 is allowed there; every other check is as strict
    # as it comes.
    accept = schema.config.checks.positive_data_acceptance
    accept.expected_statuses = [*(accept.expected_statuses or []), "422"]
    return schema


schema = load(create_app(Settings(**BOUNDED)))
STATEFUL = settings(max_examples=10, stateful_step_count=6, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
CREATE = schema["/api/v1/sessions"]["POST"]
FAST = settings(max_examples=15, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _stop_app() -> Iterator[None]:
    yield
    asgi.shutdown_lifespans()  # schemathesis started the app's lifespan: close its store


@pytest.fixture(scope="module")
def session_ids() -> list[str]:
    """Real sessions of different shapes, made through the API."""
    ids = []
    for body in ({"preset": "seed-xor"}, {"preset": "spiral"}, {"preset": "gauss-softmax"}):
        response = CREATE.Case(body=body, media_type="application/json").call()
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _with_real_session(case: Any, ids: list[str]) -> None:
    if "session_id" in (case.path_parameters or {}):
        n = len(str(case.path_parameters["session_id"]))
        if n % 2 == 0:
            case.path_parameters["session_id"] = ids[n % len(ids)]


@schema.parametrize()
@FAST
def test_every_operation_conforms(case: Any, session_ids: list[str]) -> None:
    _with_real_session(case, session_ids)
    # Every check, the Allow header of a 405 included (/sessions/import is its own path).
    case.call_and_validate()


def test_stateful_sequences_conform() -> None:
    """Chains that schemathesis links from the schema (create → use the id → delete), each
    response checked as above."""
    schema.as_state_machine().run(settings=STATEFUL)


@pytest.mark.redis
def test_stateful_sequences_conform_on_redis(redis_url: str) -> None:
    on_redis = load(create_app(Settings(store=redis_url, **BOUNDED)))
    on_redis.as_state_machine().run(settings=settings(STATEFUL, max_examples=6))
