"""JSON values, for the few places where a value really is arbitrary JSON (a stored document
read back, a user's answer, a request body before validation): typed as JSON, not ``Any``, so
mypy still checks what is done with them. Known shapes have TypedDicts of their own (the
session state in app/sessions/state_model.py, config documents in app/sessions/normalized.py).

Its own module so that every layer (engine aside) may import it."""

from __future__ import annotations

from typing_extensions import TypeAliasType

# TypeAliasType (not a plain alias) so that pydantic can resolve the recursion at run time too.
JSON = TypeAliasType("JSON", "str | int | float | bool | list[JSON] | dict[str, JSON] | None")
JSONObject = dict[str, JSON]
