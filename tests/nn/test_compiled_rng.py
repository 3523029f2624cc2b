"""The compiled epoch order (app/nn/compiled_rng.py) against NumPy's own
``default_rng([seed, epoch]).permutation(n)``: equal element for element, for seeds and epochs
of one and several 32-bit words, and sizes from 1 to 70,000; and the trainer's batches are
the ones NumPy's generator gives, with the compiled order and without it."""

from __future__ import annotations

import numpy as np
import pytest

from app.nn import numba_kernel, stepper

pytestmark = pytest.mark.skipif(not numba_kernel.available(), reason="numba not installed")


@pytest.fixture(scope="module")
def rng():  # type: ignore[no-untyped-def]
    assert numba_kernel.warm() and numba_kernel.orders is not None
    return numba_kernel.orders


SEEDS = (0, 1, 7, 12345, 2**31, 2**32 - 1, 2**32, 2**40 + 5, 2**63 - 1, 2**64 + 3)
EPOCHS = (0, 1, 2, 99, 2**31 + 7, 2**33)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_seed_sequence_words_are_numpys(rng, seed: int) -> None:  # type: ignore[no-untyped-def]
    for epoch in EPOCHS:
        want = np.random.SeedSequence([seed, epoch]).generate_state(4, np.uint64)
        assert np.array_equal(rng._seed_words(rng.entropy_words(seed, epoch)), want)


@pytest.mark.parametrize("n", (1, 2, 3, 10, 400, 1000))
def test_permutations_are_numpys(rng, n: int) -> None:  # type: ignore[no-untyped-def]
    for seed in SEEDS:
        for epoch in EPOCHS:
            got = np.empty(n, dtype=np.int64)
            rng.permutation(rng.entropy_words(seed, epoch), n, got)
            assert np.array_equal(got, np.random.default_rng([seed, epoch]).permutation(n))


def test_random_seeds_epochs_and_sizes(rng) -> None:  # type: ignore[no-untyped-def]
    draw = np.random.default_rng(2026)
    cases = [(int(draw.integers(0, 2**62)), int(draw.integers(0, 10**6)),
              int(draw.integers(1, 3000))) for _ in range(200)] + [(3, 5, 70_000)]
    for seed, epoch, n in cases:
        got = np.empty(n, dtype=np.int64)
        rng.permutation(rng.entropy_words(seed, epoch), n, got)
        assert np.array_equal(got, np.random.default_rng([seed, epoch]).permutation(n)), (
            seed, epoch, n)


def test_entropy_words_refuse_negatives(rng) -> None:  # type: ignore[no-untyped-def]
    assert rng.entropy_words(0, 2**32 + 1).tolist() == [0, 1, 1]
    with pytest.raises(ValueError):
        rng.entropy_words(-1)


def test_the_trainers_orders_are_numpys_with_and_without_the_compiled_one(
        rng, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for compiled in (rng, None):
        monkeypatch.setattr(numba_kernel, "orders", compiled)
        stepper._shuffle.cache_clear()
        for seed, epoch, n in ((1, 0, 4), (2**40, 17, 400), (99, 12345, 33)):
            order = stepper._shuffle(seed, epoch, n)
            assert order.dtype == np.int64 and not order.flags.writeable
            assert np.array_equal(order, np.random.default_rng([seed, epoch]).permutation(n))
    stepper._shuffle.cache_clear()
