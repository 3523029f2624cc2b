"""Engine-test setup.

When a Hypothesis test fails, Hypothesis' pytest plugin imports ``hypothesis.extra._patching``
(which imports libcst, which triggers a ``mypy_extensions.TypedDict`` DeprecationWarning). Under
the project's ``filterwarnings = error`` that import raises inside a pytest hook and aborts the
whole run with an INTERNALERROR instead of reporting the failing test. Importing it once here,
with that warning silenced, keeps a failing property a normal test failure.
"""

from __future__ import annotations

import contextlib
import warnings

# Without libcst the import fails and Hypothesis skips its patch output by itself.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401
