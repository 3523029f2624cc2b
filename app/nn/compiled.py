"""The compiled training kernel: whole runs of mini-batches in numba, no per-batch Python.

One module, though over the ~400 lines the project aims at: numba compiles these functions into
one cached kernel, and its on-disk cache is invalidated by changes to this file only, not to a
function it inlines from another one (numba's "Notes on Caching", cache limitations), so a helper
moved out could leave stale machine code behind. They also share the array layout below.

One function covers every network: the layer widths, activations, loss, reduction,
regularization, bias mode and optimizer are data (integer codes and flat arrays), so numba
compiles it once (``cache=True`` keeps the machine code on disk) and the GIL is released while
it runs. Each loop branches on those codes outside its inner loop, so the inner loops are plain
arithmetic over contiguous blocks, which LLVM vectorizes.

Matrix products are explicit loops in a fixed order (no BLAS, so no SciPy and no dependence on
the CPU's BLAS kernel). The arithmetic is the per-layer reference's (app/nn/network.py) formula
for formula, with two differences in the last bits: the order of additions inside a sum, and
tanh, computed here (:func:`_tanh`, within about half an ulp, as NumPy's) because libm's is a
call per element that no loop can vectorize. Results agree to about 1e-15 relative per step
(tests/nn/test_kernels.py checks 1e-12). Every operation is an IEEE one without fast-math
flags (no contraction into FMAs; the FMAs of _tanh are explicit, exactly rounded ones), so the
bits do not depend on the CPU or on vector width: runs and workers agree bit for bit.

``error_model="numpy"``: a float division by zero gives inf or nan, as in NumPy (and is then
refused as non-finite), instead of raising; it also spares every division a check, which would
keep loops from vectorizing.

Layout: layer l (0-based) has W at ``W[woff[l]:woff[l+1]]`` (row-major n_l × n_{l+1}), b at
``b[boff[l]:boff[l+1]]``. The z, a and delta of a batch of n ≤ ``cap`` rows live in flat
buffers, feature-major: layer l's block at ``cap·coff[l]`` holds unit j's n values at
``j·n … j·n + n − 1``, so the inner loops run over the batch's rows, contiguous, however narrow
the layer. The batch's inputs and targets are gathered into ``xb``, ``yb`` the same way
(n_0 × n, n_L × n); the test set is kept so (``Xt``, ``Yt``: n_0 × n_test, n_L × n_test).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from app.nn.activations import ACTIVATIONS, LEAKY_SLOPE
from app.nn.losses import LOG_EPS, LOSSES, REG_KINDS
from app.nn.optimizers import ADAM_CODE, MOMENTUM_CODE, RMSPROP_CODE

# The registries' integer codes, constants to numba (which caches them with the machine code).
SIGMOID, TANH, RELU, LEAKY_RELU, LINEAR, SOFTMAX = (
    ACTIVATIONS[name].code for name in ("sigmoid", "tanh", "relu", "leaky_relu", "linear",
                                        "softmax"))
SQUARED_ERROR, BCE, CE = (
    LOSSES[name].code for name in ("squared_error", "binary_cross_entropy", "cross_entropy"))
REG_NONE, REG_L1, REG_L2 = (REG_KINDS.index(kind) for kind in ("none", "l1", "l2"))
LOGE2 = math.log(2.0)
# fdlibm's split of ln 2 (the high part's trailing bits are zero: k·LN2_HI is exact).
LN2_HI, LN2_LO, INV_LN2 = 6.93147180369123816490e-01, 1.90821492927058770002e-10, 1 / LOGE2
# 1/2!, …, 1/14!: expm1's Taylor series on |r| ≤ ln2/2 (the next term is below 1e-17·r).
EXPM1_C = tuple(1.0 / math.factorial(n) for n in range(2, 15))

OK, DIVERGED = 0, 1
jit = njit(cache=True, nogil=True, error_model="numpy")
# The helpers are inlined into train_batches: a call per helper per batch costs more than a
# small batch's arithmetic.
helper = njit(cache=True, nogil=True, error_model="numpy", inline="always")


def _bitcast(typingctx, bits):  # type: ignore[no-untyped-def]
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


def _fused(typingctx, x, y, c):  # type: ignore[no-untyped-def]
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


# The float64 whose bits are an int64: 2ᵏ without a libm call.
_as_float = cast(Callable[[np.int64], float], intrinsic(_bitcast))
# x·y + c rounded once (IEEE fusedMultiplyAdd: the same bits on every CPU; where the CPU has no
# FMA instruction LLVM calls libm's fma, slower but exact too).
_fma = cast(Callable[[float, float, float], float], intrinsic(_fused))


@helper
def _tanh(x):  # type: ignore[no-untyped-def]
    """tanh(x) = −e/(e + 2) with e = expm1(−2|x|) (fdlibm's form: no cancellation near 0), the
    sign restored. expm1 by Cody–Waite reduction to r = y − k·ln2 and a Taylor polynomial; e and
    the quotient carried as hi + lo pairs, so the result is within about half an ulp (closer
    to the exact value than NumPy's own tanh on average). Branch-free, so a loop of it
    vectorizes. tanh(±inf) = ±1, nan stays nan."""
    ax = abs(x)
    c = 20.0 if ax > 20.0 else ax  # tanh(20) is 1.0 in float64
    y = -2.0 * c
    k = math.floor(y * INV_LN2 + 0.5)  # −58 ≤ k ≤ 0
    r = (y - k * LN2_HI) - k * LN2_LO
    C = EXPM1_C
    q = C[12]
    for i in range(11, -1, -1):
        q = _fma(r, q, C[i])
    rq = r * q
    p_hi = _fma(r, rq, r)  # expm1(r) = r + r·(r·q) …
    p_lo = _fma(r, rq, r - p_hi)  # … and its rounding error
    s = _as_float((np.int64(k) + 1023) << 52)  # 2ᵏ
    # e = expm1(y) = (2ᵏ − 1) + 2ᵏ·expm1(r), as e_hi + e_lo (Knuth's two-sum)
    u, w = s - 1.0, s * p_hi
    e_hi = u + w
    bb = e_hi - u
    e_lo = ((u - (e_hi - bb)) + (w - bb)) + s * p_lo
    d_hi = 2.0 + e_hi  # the denominator e + 2, as d_hi + d_lo
    d_lo = ((2.0 - d_hi) + e_hi) + e_lo
    t0 = -e_hi / d_hi
    rho = _fma(-t0, d_hi, -e_hi)  # the division's remainder, exactly
    return math.copysign(t0 + ((rho - e_lo) - t0 * d_lo) / d_hi, x)


@helper
def _logaddexp0(x):  # type: ignore[no-untyped-def]
    # numpy's npy_logaddexp(0, x), branch for branch.
    if x == 0.0:
        return x + LOGE2
    tmp = 0.0 - x
    if tmp > 0:
        return 0.0 + math.log1p(math.exp(-tmp))
    if tmp <= 0:
        return x + math.log1p(math.exp(tmp))
    return tmp  # nan


@helper
def _row_max(z, o, n, n_out):  # type: ignore[no-untyped-def]
    """max_j z[o + j·n]: the shift that keeps softmax and log-sum-exp from overflowing."""
    m = z[o]
    for j in range(o + n, o + n * n_out, n):
        if z[j] > m:
            m = z[j]
    return m


@helper
def _activate(act, z, a, o, n, n_out):  # type: ignore[no-untyped-def]
    """a = f(z) over the block of n_out units × n rows at o."""
    m = n * n_out
    # (views: indices from 0 are known non-negative, so no per-element wrap-around check
    # keeps the loop from vectorizing)
    zs, As = z[o : o + m], a[o : o + m]
    if act == TANH:
        for e in range(m):
            As[e] = _tanh(zs[e])
    elif act == SIGMOID:
        for e in range(m):
            As[e] = 1.0 / (1.0 + math.exp(-zs[e]))
    elif act == RELU:
        for e in range(m):
            v = zs[e]
            As[e] = v if (v > 0.0 or v != v) else 0.0
    elif act == LEAKY_RELU:
        for e in range(m):
            v = zs[e]
            As[e] = v if v > 0.0 else LEAKY_SLOPE * v
    elif act == SOFTMAX:
        for i in range(n):
            mx = _row_max(z, o + i, n, n_out)
            tot = 0.0
            for j in range(o + i, o + m, n):
                ex = math.exp(z[j] - mx)
                a[j] = ex
                tot += ex
            for j in range(o + i, o + m, n):
                a[j] = a[j] / tot
    else:
        As[:] = zs


@helper
def _times_prime(act, z, a, g, o, m):  # type: ignore[no-untyped-def]
    """g ⊙= f'(z) over m elements at o (f' written from a where the lesson does)."""
    gs, zs, As = g[o : o + m], z[o : o + m], a[o : o + m]
    if act == SIGMOID:
        for e in range(m):
            gs[e] = gs[e] * (As[e] * (1.0 - As[e]))
    elif act == TANH:
        for e in range(m):
            gs[e] = gs[e] * (1.0 - As[e] * As[e])
    elif act == RELU:
        for e in range(m):
            gs[e] = gs[e] * (1.0 if zs[e] > 0.0 else 0.0)
    elif act == LEAKY_RELU:
        for e in range(m):
            gs[e] = gs[e] * (1.0 if zs[e] > 0.0 else LEAKY_SLOPE)


@helper
def _forward(x, n, layers, acts, W, woff, b, boff, has_b, z, a, cap, coff):  # type: ignore[no-untyped-def]
    """z, a of every layer for the n rows of x (n_0 × n): z = a_prev·W (+ b), each sum in k
    order and b added last, as the reference's a_prev.dot(W) + b."""
    for l in range(len(layers) - 1):
        n_in, n_out = layers[l], layers[l + 1]
        wo, zo = woff[l], cap * coff[l]
        src, so = (x, 0) if l == 0 else (a, cap * coff[l - 1])
        if n == 1:  # one row (batches of one sample): the inner loops run over the units
            zr = z[zo : zo + n_out]
            v, wr = src[so], W[wo : wo + n_out]
            for j in range(n_out):
                zr[j] = v * wr[j]
            for k in range(1, n_in):
                v, wr = src[so + k], W[wo + k * n_out : wo + k * n_out + n_out]
                for j in range(n_out):
                    zr[j] += v * wr[j]
            if has_b:
                br = b[boff[l] : boff[l] + n_out]
                for j in range(n_out):
                    zr[j] += br[j]
            _activate(acts[l], z, a, zo, n, n_out)
            continue
        for j in range(n_out):
            zj, w, sk = z[zo + j * n : zo + j * n + n], W[wo + j], src[so : so + n]
            for i in range(n):
                zj[i] = sk[i] * w
            for k in range(1, n_in):
                w, sk = W[wo + k * n_out + j], src[so + k * n : so + k * n + n]
                for i in range(n):
                    zj[i] += sk[i] * w
            if has_b:
                bj = b[boff[l] + j]
                for i in range(n):
                    zj[i] += bj
        _activate(acts[l], z, a, zo, n, n_out)


@helper
def _loss_sum(y, n, n_out, loss, fused, z, a, o):  # type: ignore[no-untyped-def]
    """Σ_n ℓ_n for the n rows of targets y (n_out × n) against the output block at o
    (reduction and regularization are the caller's)."""
    total = 0.0
    for i in range(n):
        ell = 0.0
        if loss == SQUARED_ERROR:
            for j in range(n_out):
                e = a[o + j * n + i] - y[j * n + i]
                ell += e * e
            ell *= 0.5
        elif loss == BCE:
            for j in range(n_out):
                t = y[j * n + i]
                if fused:
                    v = z[o + j * n + i]
                    ell += _logaddexp0(v) - t * v
                else:
                    p = min(max(a[o + j * n + i], LOG_EPS), 1.0 - LOG_EPS)
                    ell -= t * math.log(p) + (1.0 - t) * math.log(1.0 - p)
        elif fused:
            m = _row_max(z, o + i, n, n_out)
            se = 0.0
            for j in range(n_out):
                se += math.exp(z[o + j * n + i] - m)
            lse = math.log(se)
            for j in range(n_out):
                ell -= y[j * n + i] * (z[o + j * n + i] - m - lse)
        else:
            for j in range(n_out):
                ell -= y[j * n + i] * math.log(min(max(a[o + j * n + i], LOG_EPS), 1.0))
        total += ell
    return total


@helper
def _reg_value(W, reg, rate):  # type: ignore[no-untyped-def]
    if reg == REG_NONE or rate == 0.0:
        return 0.0
    s = 0.0
    for k in range(len(W)):
        s += W[k] * W[k] if reg == REG_L2 else abs(W[k])
    return 0.5 * rate * s if reg == REG_L2 else rate * s


@helper
def update(opt, hp, lr, t, p, g, m, v, new):  # type: ignore[no-untyped-def]
    """The optimizer's step for update t: app/nn/optimizers.py ``rule``, expression for
    expression, for every optimizer (plain SGD included). New p, m, v into new[0], new[1],
    new[2]; False (new partly written, p, m, v untouched) as soon as a new value is not
    finite. hp: the parameters in optimizers.PARAMS's order (μ, nesterov, α, ε, β₁, β₂).
    A new optimizer is one more branch here."""
    mu, nesterov, alpha, eps, beta1, beta2 = hp[0], hp[1] != 0.0, hp[2], hp[3], hp[4], hp[5]
    step_size, sqrt_bc2 = lr, 1.0
    if opt == ADAM_CODE:  # (only here: β^t underflows on long runs, a slow path in libm)
        step_size = lr / (1.0 - beta1 ** float(t))
        sqrt_bc2 = math.sqrt(1.0 - beta2 ** float(t))
    for k in range(len(p)):
        gk = g[k]
        mn, vn = m[k], v[k]
        if opt == MOMENTUM_CODE:
            mn = gk if t == 1 else mu * m[k] + gk
            d = gk + mu * mn if nesterov else mn
            pn = p[k] - lr * d
        elif opt == RMSPROP_CODE:
            vn = alpha * v[k] + (1.0 - alpha) * (gk * gk)
            pn = p[k] - lr * (gk / (math.sqrt(vn) + eps))
        elif opt == ADAM_CODE:
            mn = beta1 * m[k] + (1.0 - beta1) * gk
            vn = beta2 * v[k] + (1.0 - beta2) * (gk * gk)
            pn = p[k] - step_size * (mn / (math.sqrt(vn) / sqrt_bc2 + eps))
        else:  # sgd
            pn = p[k] - lr * gk
        if not (math.isfinite(pn) and math.isfinite(mn) and math.isfinite(vn)):
            return False
        new[0, k] = pn
        new[1, k] = mn
        new[2, k] = vn
    return True


@helper
def _keep(p, m, v, new):  # type: ignore[no-untyped-def]
    for k in range(len(p)):
        p[k] = new[0, k]
        m[k] = new[1, k]
        v[k] = new[2, k]


@helper
def objective(x, y, n, layers, acts, loss, fused, mean, reg, rate,  # type: ignore[no-untyped-def]
              W, woff, b, boff, has_b, z, a, coff):
    """The reduced loss plus regularization over the n rows of x, y (the test loss)."""
    L = len(layers) - 1
    _forward(x, n, layers, acts, W, woff, b, boff, has_b, z, a, n, coff)
    total = _loss_sum(y, n, layers[L], loss, fused, z, a, n * coff[L - 1])
    if mean:
        total /= n
    return total + _reg_value(W, reg, rate)


@helper
def _dot(x, xo, y, yo, n):  # type: ignore[no-untyped-def]
    """Σ_i x[xo + i]·y[yo + i], as four interleaved partial sums
    combined pairwise: a fixed order (the same bits on every run), and four independent
    chains of additions instead of one, which is what such a sum waits on."""
    xs, ys = x[xo : xo + n], y[yo : yo + n]
    s0 = s1 = s2 = s3 = 0.0
    m = n - n % 4
    for i in range(0, m, 4):
        s0 += xs[i] * ys[i]
        s1 += xs[i + 1] * ys[i + 1]
        s2 += xs[i + 2] * ys[i + 2]
        s3 += xs[i + 3] * ys[i + 3]
    for i in range(m, n):
        s0 += xs[i] * ys[i]
    return (s0 + s1) + (s2 + s3)


@helper
def _sum(x, xo, n):  # type: ignore[no-untyped-def]
    """Σ_i x[xo + i] in :func:`_dot`'s order."""
    xs = x[xo : xo + n]
    s0 = s1 = s2 = s3 = 0.0
    m = n - n % 4
    for i in range(0, m, 4):
        s0 += xs[i]
        s1 += xs[i + 1]
        s2 += xs[i + 2]
        s3 += xs[i + 3]
    for i in range(m, n):
        s0 += xs[i]
    return (s0 + s1) + (s2 + s3)


@helper
def _output_delta(yb, n, n_out, loss, fused, act, mean, z, a, delta, o):  # type: ignore[no-untyped-def]
    """delta of the output block (as Network.output_delta), scaled by 1/n for the mean."""
    m = n * n_out
    As, ds = a[o : o + m], delta[o : o + m]
    for e in range(m):
        yh, t = As[e], yb[e]
        if fused:
            d = yh - t  # cross-entropy's yh·Σy − y: the Σy factor below
        elif loss == SQUARED_ERROR:
            d = yh - t
        elif loss == BCE:
            p = min(max(yh, LOG_EPS), 1.0 - LOG_EPS)
            d = (p - t) / (p * (1.0 - p))
        else:
            d = -t / min(max(yh, LOG_EPS), 1.0)
        ds[e] = d
    if fused and loss == CE:
        for i in range(n):
            ysum = 0.0
            for c in range(i, m, n):
                ysum += yb[c]
            for c in range(i, m, n):
                delta[o + c] = a[o + c] * ysum - yb[c]
    elif act == SOFTMAX and not fused:
        for i in range(n):
            dot = 0.0
            for c in range(o + i, o + m, n):
                dot += delta[c] * a[c]
            for c in range(o + i, o + m, n):
                delta[c] = a[c] * (delta[c] - dot)
    elif not fused:
        _times_prime(act, z, a, delta, o, m)
    if mean:
        scale = 1.0 / n
        for e in range(m):
            ds[e] = ds[e] * scale


@helper
def _backward(xb, n, layers, acts, reg, rate, train_b, W, woff, boff, z, a, delta, cap, coff,  # type: ignore[no-untyped-def]
              gW, gb):
    """grad_W = a_prevᵀ·delta (+ reg, added last), grad_b = Σ_i delta (sums over the batch by
    :func:`_dot`), delta_prev = delta·Wᵀ ⊙ f' (each sum in q order)."""
    for l in range(len(layers) - 2, -1, -1):
        n_in, n_o = layers[l], layers[l + 1]
        wo, do = woff[l], cap * coff[l]
        src, so = (xb, 0) if l == 0 else (a, cap * coff[l - 1])
        for p in range(n_in):
            if n == 1:  # an outer product, row by row (0.0 + …: _dot's bits, signed zeros too)
                v, gr, dr = src[so + p], gW[wo + p * n_o : wo + p * n_o + n_o], delta[do : do + n_o]
                for q in range(n_o):
                    gr[q] = 0.0 + v * dr[q]
                continue
            for q in range(n_o):
                gW[wo + p * n_o + q] = _dot(src, so + p * n, delta, do + q * n, n)
        if reg == REG_L2 and rate != 0.0:
            for e in range(wo, wo + n_in * n_o):
                gW[e] += rate * W[e]
        elif reg == REG_L1 and rate != 0.0:
            for e in range(wo, wo + n_in * n_o):
                w = W[e]
                gW[e] += rate * (1.0 if w > 0.0 else (-1.0 if w < 0.0 else 0.0))
        if train_b:
            for q in range(n_o):
                gb[boff[l] + q] = _sum(delta, do + q * n, n)
        if l > 0:
            po = cap * coff[l - 1]
            if n == 1:  # delta·Wᵀ as dot products over the units, in the same q order
                dr = delta[do : do + n_o]
                for p in range(n_in):
                    wr = W[wo + p * n_o : wo + p * n_o + n_o]
                    t = dr[0] * wr[0]
                    for q in range(1, n_o):
                        t += dr[q] * wr[q]
                    delta[po + p] = t
            else:
                for p in range(n_in):
                    dp, dq = delta[po + p * n : po + p * n + n], delta[do : do + n]
                    w = W[wo + p * n_o]
                    for i in range(n):
                        dp[i] = dq[i] * w
                    for q in range(1, n_o):
                        w, dq = W[wo + p * n_o + q], delta[do + q * n : do + q * n + n]
                        for i in range(n):
                            dp[i] += dq[i] * w
            _times_prime(acts[l - 1], z, a, delta, po, n * n_in)


@jit
def train_batches(X, Y, order, bs, nb, start, stop,  # type: ignore[no-untyped-def]
                  layers, acts, loss, fused, mean, reg, rate, lr, has_b, train_b,
                  W, woff, b, boff, xb, yb, z, a, delta, coff, gW, gb,
                  Xt, Yt, n_test, test_first, zt, at,
                  losses, test_losses, last_out, grad_sq,
                  opt, hp, t0, mW, vW, mb, vb, newW, newb):
    """Batches start..stop-1 (batch j is rows (j % nb)·bs … of epoch j // nb's order, at most bs
    rows; ``order`` holds the orders of the epochs the chunk touches, one after another), in
    place. X, Y are flat row-major, Xt, Yt flat feature-major; xb, yb, z, a, delta are scratch
    for bs rows.

    Writes the accepted batch losses to ``losses`` and, at each epoch start (j % nb == 0; at
    ``start`` only if ``test_first``), the test objective over the n_test rows to
    ``test_losses`` (nan if not finite or not computed). ``last_out`` (flat) receives ŷ of the
    last forward pass whose loss was finite. ``grad_sq[k, l]`` receives Σ (∂L/∂W_l)² of an
    epoch's last batch (the history's gradient norms), before the update; other rows are left
    as they are. The update is :func:`update` with the optimizer ``opt`` (parameters ``hp``),
    whose moments mW, vW, mb, vb are updated in place; t0 updates were made before this call;
    newW, newb (3 × size) are scratch.
    Returns (batches accepted, status, rows of last_out, index of that batch or -1, its loss)."""
    L = len(layers) - 1
    n0, n_out = layers[0], layers[L]
    oo = bs * coff[L - 1]  # the output block
    n_samples = len(X) // n0  # rows per epoch; order may hold several epochs' orders
    last_rows, last_j, last_loss = 0, -1, np.nan
    for j in range(start, stop):
        k = j - start
        test_losses[k] = np.nan
        pos = j % nb
        if n_test > 0 and pos == 0 and (j > start or test_first):
            test_losses[k] = objective(Xt, Yt, n_test, layers, acts, loss, fused, mean, reg,
                                       rate, W, woff, b, boff, has_b, zt, at, coff)
        r0 = (j // nb) * n_samples % len(order) + pos * bs  # epoch j // nb of the chunk
        n = min(bs, n_samples - pos * bs)
        for i in range(n):  # gather the batch's rows, feature-major
            src = order[r0 + i]
            for c in range(n0):
                xb[c * n + i] = X[src * n0 + c]
            for c in range(n_out):
                yb[c * n + i] = Y[src * n_out + c]
        _forward(xb, n, layers, acts, W, woff, b, boff, has_b, z, a, bs, coff)
        total = _loss_sum(yb, n, n_out, loss, fused, z, a, oo)
        if mean:
            total /= n
        total += _reg_value(W, reg, rate)
        if not math.isfinite(total):
            return k, DIVERGED, last_rows, last_j, last_loss
        for i in range(n):
            for c in range(n_out):
                last_out[i * n_out + c] = a[oo + c * n + i]
        last_rows, last_j, last_loss = n, j, total
        _output_delta(yb, n, n_out, loss, fused, acts[L - 1], mean, z, a, delta, oo)
        _backward(xb, n, layers, acts, reg, rate, train_b, W, woff, boff, z, a, delta, bs,
                  coff, gW, gb)
        if pos == nb - 1:  # the epoch's last batch: its gradient norms go into the history
            for l in range(L):
                s = 0.0
                for k2 in range(woff[l], woff[l + 1]):
                    s += gW[k2] * gW[k2]
                grad_sq[k, l] = s
        # the update, kept only if every new value is finite (checked element by element)
        t = t0 + k + 1
        if not update(opt, hp, lr, t, W, gW, mW, vW, newW):
            return k, DIVERGED, last_rows, last_j, last_loss
        if train_b and not update(opt, hp, lr, t, b, gb, mb, vb, newb):
            return k, DIVERGED, last_rows, last_j, last_loss
        _keep(W, mW, vW, newW)
        if train_b:
            _keep(b, mb, vb, newb)
        losses[k] = total
    return stop - start, OK, last_rows, last_j, last_loss
