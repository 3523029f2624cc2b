"""An epoch's shuffled order, compiled: ``np.random.default_rng([seed, epoch]).permutation(n)``
bit for bit, without building a SeedSequence, a PCG64 and a Generator per epoch (13 µs in
Python, most of a Play tick's training Python; this is ~2 µs, with the GIL held: letting it go
for 2 µs would cost a wait to take it back from a thread drawing a frame).

The same three steps as NumPy's (numpy/random/bit_generator.pyx, _pcg64, _generator.pyx):

1. SeedSequence: the entropy's 32-bit words mixed into a pool of four (O'Neill's seed_seq
   alternative: hashmix and mix), then ``generate_state(4, uint64)``;
2. PCG64 (XSL-RR 128/64) seeded with those four words: state and increment from them, one
   step, the state added, one step;
3. ``Generator.permutation(n)``: ``arange(n)`` shuffled by Fisher–Yates from the top, each
   index drawn by ``random_interval`` (a bit mask and rejection; 32-bit draws, two to a 64-bit
   output, while the bound fits 32 bits).

NumPy documents these streams as stable (its compatibility policy for Generator and
SeedSequence); tests/nn/test_compiled_rng.py compares them with NumPy's own over many seeds,
epochs and sizes. 128-bit arithmetic is done on (hi, lo) pairs of uint64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from app.nn.trace import IntArray

U = np.uint64
M32 = U(0xFFFFFFFF)
INIT_A, MULT_A = U(0x43B0D7E5), U(0x931E8875)
INIT_B, MULT_B = U(0x8B51F9DD), U(0x58F38DED)
MIX_MULT_L, MIX_MULT_R = U(0xCA01F9DD), U(0x4973F715)
S16, S32, S58, S64 = U(16), U(32), U(58), U(64)
# PCG's 128-bit multiplier (PCG_DEFAULT_MULTIPLIER_128) as (hi, lo).
MUL_HI, MUL_LO = U(2549297995355413924), U(4865540595714422341)
ONE = U(1)

jit = njit(cache=True)  # holds the GIL: microseconds, less than waiting to take it back


@jit
def _hashmix(value, hash_const):  # type: ignore[no-untyped-def]
    """(mixed value, next hash constant), in 32-bit arithmetic."""
    value = (value ^ hash_const) & M32
    hash_const = (hash_const * MULT_A) & M32
    value = (value * hash_const) & M32
    return value ^ (value >> S16), hash_const


@jit
def _mix(x, y):  # type: ignore[no-untyped-def]
    r = (MIX_MULT_L * x - MIX_MULT_R * y) & M32
    return r ^ (r >> S16)


@jit
def _seed_words(entropy):  # type: ignore[no-untyped-def]
    """SeedSequence(entropy words).generate_state(4, uint64)."""
    pool = np.zeros(4, np.uint64)
    h = INIT_A
    for i in range(4):
        v = U(entropy[i]) if i < len(entropy) else U(0)
        pool[i], h = _hashmix(v, h)
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                v, h = _hashmix(pool[i_src], h)
                pool[i_dst] = _mix(pool[i_dst], v)
    for i_src in range(4, len(entropy)):
        for i_dst in range(4):
            v, h = _hashmix(U(entropy[i_src]), h)
            pool[i_dst] = _mix(pool[i_dst], v)
    out = np.zeros(4, np.uint64)
    h = INIT_B
    for k in range(8):  # eight 32-bit words, little-endian pairs into four uint64
        v = (pool[k % 4] ^ h) & M32
        h = (h * MULT_B) & M32
        v = (v * h) & M32
        v ^= v >> S16
        if k % 2 == 0:
            out[k // 2] = v
        else:
            out[k // 2] |= v << S32
    return out


@jit
def _mul_hi(a, b):  # type: ignore[no-untyped-def]
    """The high 64 bits of the 128-bit product a · b."""
    a_lo, a_hi = a & M32, a >> S32
    b_lo, b_hi = b & M32, b >> S32
    lo_lo = a_lo * b_lo
    hi_lo = a_hi * b_lo
    lo_hi = a_lo * b_hi
    cross = (lo_lo >> S32) + (hi_lo & M32) + lo_hi
    return a_hi * b_hi + (hi_lo >> S32) + (cross >> S32)


@jit
def _step(s_hi, s_lo, i_hi, i_lo):  # type: ignore[no-untyped-def]
    """state · multiplier + increment (mod 2¹²⁸)."""
    hi = _mul_hi(s_lo, MUL_LO) + s_hi * MUL_LO + s_lo * MUL_HI
    lo = s_lo * MUL_LO
    new_lo = lo + i_lo
    carry = U(1) if new_lo < lo else U(0)
    return hi + i_hi + carry, new_lo


@jit
def _output(s_hi, s_lo):  # type: ignore[no-untyped-def]
    """XSL-RR: (hi ^ lo) rotated right by the state's top six bits."""
    x = s_hi ^ s_lo
    rot = s_hi >> S58
    return (x >> rot) | (x << ((S64 - rot) & U(63)))


@jit
def permutation(entropy, n, out):  # type: ignore[no-untyped-def]
    """``out[:] = default_rng(entropy words).permutation(n)`` (``out``: int64, length n)."""
    seed = _seed_words(entropy)
    # pcg64_set_seed: initstate = seed[0]·2⁶⁴ + seed[1], initseq = seed[2]·2⁶⁴ + seed[3]
    i_hi = (seed[2] << ONE) | (seed[3] >> U(63))
    i_lo = (seed[3] << ONE) | ONE
    s_hi, s_lo = _step(U(0), U(0), i_hi, i_lo)
    lo = s_lo + seed[1]
    s_hi = s_hi + seed[0] + (U(1) if lo < s_lo else U(0))
    s_lo = lo
    s_hi, s_lo = _step(s_hi, s_lo, i_hi, i_lo)
    for i in range(n):
        out[i] = i
    has32, buf = False, U(0)
    for i in range(n - 1, 0, -1):
        bound = U(i)
        mask = bound
        mask |= mask >> U(1)
        mask |= mask >> U(2)
        mask |= mask >> U(4)
        mask |= mask >> U(8)
        mask |= mask >> U(16)
        mask |= mask >> S32
        if bound <= M32:
            while True:  # next_uint32: the low half of a 64-bit output, then its high half
                if has32:
                    v, has32 = buf, False
                else:
                    s_hi, s_lo = _step(s_hi, s_lo, i_hi, i_lo)
                    r = _output(s_hi, s_lo)
                    v, buf, has32 = r & M32, r >> S32, True
                v &= mask
                if v <= bound:
                    break
        else:
            while True:
                s_hi, s_lo = _step(s_hi, s_lo, i_hi, i_lo)
                v = _output(s_hi, s_lo) & mask
                if v <= bound:
                    break
        j = np.int64(v)
        out[i], out[j] = out[j], out[i]


def entropy_words(*values: int) -> IntArray:
    """SeedSequence's entropy from non-negative ints: each one's 32-bit words, low first."""
    words: list[int] = []
    for x in values:
        if x < 0:
            raise ValueError("entropy must be non-negative")
        if x == 0:
            words.append(0)
        while x > 0:
            words.append(x & 0xFFFFFFFF)
            x >>= 32
    return np.array(words, dtype=np.uint32)
