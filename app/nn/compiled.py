"""The compiled training kernel: whole runs of mini-batches in numba, no per-batch Python.

One module: numba compiles these functions into one cached kernel; they call one another
and share the array layout below, so they change together.

One function covers every network: the layer widths, activations, loss, reduction,
regularization and bias mode are data (integer codes and flat arrays), so numba compiles it
once (``cache=True`` keeps the machine code on disk) and the GIL is released while it runs.

Matrix products are explicit loops in a fixed order (no BLAS, so no SciPy and no dependence on
the CPU's BLAS kernel). The arithmetic is the per-layer reference's (app/nn/network.py) formula
for formula; only the order of additions inside a sum and libm's last bit may differ, so results
agree to about 1e-15 relative per step (tests/nn/test_kernels.py checks 1e-12).

Layout: layer l (0-based) has W at ``W[woff[l]:woff[l+1]]`` (row-major n_l × n_{l+1}), b at
``b[boff[l]:boff[l+1]]``; activations z, a, delta of a batch live in (rows × Σ widths) buffers at
column ``coff[l]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from app.nn.activations import ACTIVATIONS, LEAKY_SLOPE
from app.nn.losses import LOG_EPS, LOSSES, REG_KINDS
from app.nn.optimizers import ADAM_CODE, MOMENTUM_CODE, RMSPROP_CODE, SGD_CODE

# The registries' integer codes, constants to numba (which caches them with the machine code).
SIGMOID, TANH, RELU, LEAKY_RELU, LINEAR, SOFTMAX = (
    ACTIVATIONS[name].code for name in ("sigmoid", "tanh", "relu", "leaky_relu", "linear",
                                        "softmax"))
SQUARED_ERROR, BCE, CE = (
    LOSSES[name].code for name in ("squared_error", "binary_cross_entropy", "cross_entropy"))
REG_NONE, REG_L1, REG_L2 = (REG_KINDS.index(kind) for kind in ("none", "l1", "l2"))
LOGE2 = math.log(2.0)

OK, DIVERGED = 0, 1


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _row_max(z, i, co, n_out):  # type: ignore[no-untyped-def]
    """max_j z[i, co + j]: the shift that keeps softmax and log-sum-exp from overflowing."""
    m = z[i, co]
    for j in range(1, n_out):
        if z[i, co + j] > m:
            m = z[i, co + j]
    return m


@njit(cache=True, nogil=True)
def _forward(X, rows, r0, n, layers, acts, W, woff, b, boff, has_b, z, a, coff):  # type: ignore[no-untyped-def]
    """z, a of every layer for samples rows[r0:r0+n] of X (into buffer rows 0..n-1)."""
    L = len(layers) - 1
    for l in range(L):
        n_in, n_out = layers[l], layers[l + 1]
        wo, co = woff[l], coff[l]
        pco = coff[l - 1] if l > 0 else 0
        act = acts[l]
        for i in range(n):
            for j in range(n_out):
                s = 0.0
                if l == 0:
                    src = rows[r0 + i]
                    for k in range(n_in):
                        s += X[src, k] * W[wo + k * n_out + j]
                else:
                    for k in range(n_in):
                        s += a[i, pco + k] * W[wo + k * n_out + j]
                if has_b:
                    s += b[boff[l] + j]
                z[i, co + j] = s
            if act == SOFTMAX:
                m = _row_max(z, i, co, n_out)
                tot = 0.0
                for j in range(n_out):
                    e = math.exp(z[i, co + j] - m)
                    a[i, co + j] = e
                    tot += e
                for j in range(n_out):
                    a[i, co + j] = a[i, co + j] / tot
            else:
                for j in range(n_out):
                    v = z[i, co + j]
                    if act == SIGMOID:
                        a[i, co + j] = 1.0 / (1.0 + math.exp(-v))
                    elif act == TANH:
                        a[i, co + j] = math.tanh(v)
                    elif act == RELU:
                        a[i, co + j] = v if (v > 0.0 or v != v) else 0.0
                    elif act == LEAKY_RELU:
                        a[i, co + j] = v if v > 0.0 else LEAKY_SLOPE * v
                    else:
                        a[i, co + j] = v


@njit(cache=True, nogil=True)
def _loss_sum(Y, rows, r0, n, n_out, loss, fused, z, a, co):  # type: ignore[no-untyped-def]
    """Σ_n ℓ_n for the batch (reduction and regularization are the caller's)."""
    total = 0.0
    for i in range(n):
        y_row = rows[r0 + i]
        ell = 0.0
        if loss == SQUARED_ERROR:
            for j in range(n_out):
                e = a[i, co + j] - Y[y_row, j]
                ell += e * e
            ell *= 0.5
        elif loss == BCE:
            for j in range(n_out):
                y = Y[y_row, j]
                if fused:
                    v = z[i, co + j]
                    ell += _logaddexp0(v) - y * v
                else:
                    p = min(max(a[i, co + j], LOG_EPS), 1.0 - LOG_EPS)
                    ell -= y * math.log(p) + (1.0 - y) * math.log(1.0 - p)
        else:
            if fused:
                m = _row_max(z, i, co, n_out)
                se = 0.0
                for j in range(n_out):
                    se += math.exp(z[i, co + j] - m)
                lse = math.log(se)
                for j in range(n_out):
                    ell -= Y[y_row, j] * (z[i, co + j] - m - lse)
            else:
                for j in range(n_out):
                    ell -= Y[y_row, j] * math.log(min(max(a[i, co + j], LOG_EPS), 1.0))
        total += ell
    return total


@njit(cache=True, nogil=True)
def _reg_value(W, reg, rate):  # type: ignore[no-untyped-def]
    if reg == REG_NONE or rate == 0.0:
        return 0.0
    s = 0.0
    for k in range(len(W)):
        s += W[k] * W[k] if reg == REG_L2 else abs(W[k])
    return 0.5 * rate * s if reg == REG_L2 else rate * s


@njit(cache=True, nogil=True)
def _times_prime(act, z, a, g):  # type: ignore[no-untyped-def]
    """g ⊙ f'(z) for an elementwise activation (f' written from a where the lesson does)."""
    if act == SIGMOID:
        return g * (a * (1.0 - a))
    if act == TANH:
        return g * (1.0 - a * a)
    if act == RELU:
        return g * (1.0 if z > 0.0 else 0.0)
    if act == LEAKY_RELU:
        return g * (1.0 if z > 0.0 else LEAKY_SLOPE)
    return g * 1.0


@njit(cache=True, nogil=True)
def _opt_new(opt, hp, lr, t, p, g, m, v, out):  # type: ignore[no-untyped-def]
    """The optimizer's step (app/nn/optimizers.py ``rule``, expression for expression) for
    update t: new p, m, v into out[0], out[1], out[2]; False (out partly written, p, m, v
    untouched) as soon as a new value is not finite. hp = (μ, nesterov, α, ε, β₁, β₂)."""
    mu, nesterov, alpha, eps, beta1, beta2 = hp[0], hp[1] != 0.0, hp[2], hp[3], hp[4], hp[5]
    bc1 = 1.0 - beta1 ** float(t)
    sqrt_bc2 = math.sqrt(1.0 - beta2 ** float(t))
    step_size = lr / bc1
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
        else:
            pn = p[k] - lr * gk
        if not (math.isfinite(pn) and math.isfinite(mn) and math.isfinite(vn)):
            return False
        out[0, k] = pn
        out[1, k] = mn
        out[2, k] = vn
    return True


@njit(cache=True, nogil=True)
def _opt_keep(p, m, v, out):  # type: ignore[no-untyped-def]
    for k in range(len(p)):
        p[k] = out[0, k]
        m[k] = out[1, k]
        v[k] = out[2, k]


@njit(cache=True, nogil=True)
def objective(X, Y, rows, layers, acts, loss, fused, mean, reg, rate,  # type: ignore[no-untyped-def]
              W, woff, b, boff, has_b, z, a, coff):
    """The reduced loss plus regularization over all of rows (the test loss)."""
    n = len(rows)
    L = len(layers) - 1
    _forward(X, rows, 0, n, layers, acts, W, woff, b, boff, has_b, z, a, coff)
    total = _loss_sum(Y, rows, 0, n, layers[L], loss, fused, z, a, coff[L - 1])
    if mean:
        total /= n
    return total + _reg_value(W, reg, rate)


@njit(cache=True, nogil=True)
def train_batches(X, Y, order, bs, nb, start, stop,  # type: ignore[no-untyped-def]
                  layers, acts, loss, fused, mean, reg, rate, lr, has_b, train_b,
                  W, woff, b, boff, z, a, delta, coff, gW, gb,
                  Xt, Yt, test_rows, test_first, zt, at,
                  losses, test_losses, last_out, grad_sq,
                  opt, hp, t0, mW, vW, mb, vb, newW, newb):
    """Batches start..stop-1 (batch j is rows (j % nb)·bs … of epoch j // nb's order, at most bs
    rows; ``order`` holds the orders of the epochs the chunk touches, one after another), in
    place.

    Writes the accepted batch losses to ``losses`` and, at each epoch start (j % nb == 0; at
    ``start`` only if ``test_first``), the test objective to ``test_losses`` (nan if not finite
    or not computed). ``last_out`` receives ŷ of the last forward pass whose loss was finite.
    ``grad_sq[k, l]`` receives Σ (∂L/∂W_l)² of an epoch's last batch (the history's gradient
    norms), before the update; other rows are left as they are.
    The update is the optimizer ``opt``'s (parameters ``hp``, see _opt_new), whose moments
    mW, vW, mb, vb are updated in place; t0 updates were made before this call; newW, newb
    (3 × size) are scratch.
    Returns (batches accepted, status, rows of last_out, index of that batch or -1, its loss)."""
    L = len(layers) - 1
    n_out = layers[L]
    co_out = coff[L - 1]
    n_samples = X.shape[0]  # rows per epoch; order may hold several epochs' orders
    last_rows, last_j, last_loss = 0, -1, np.nan
    for j in range(start, stop):
        k = j - start
        test_losses[k] = np.nan
        pos = j % nb
        if len(test_rows) > 0 and pos == 0 and (j > start or test_first):
            t = objective(Xt, Yt, test_rows, layers, acts, loss, fused, mean, reg, rate,
                          W, woff, b, boff, has_b, zt, at, coff)
            test_losses[k] = t
        r0 = (j // nb) * n_samples % len(order) + pos * bs  # epoch j // nb of the chunk
        n = min(bs, n_samples - pos * bs)
        _forward(X, order, r0, n, layers, acts, W, woff, b, boff, has_b, z, a, coff)
        total = _loss_sum(Y, order, r0, n, n_out, loss, fused, z, a, co_out)
        if mean:
            total /= n
        total += _reg_value(W, reg, rate)
        if not math.isfinite(total):
            return k, DIVERGED, last_rows, last_j, last_loss
        for i in range(n):
            for c in range(n_out):
                last_out[i, c] = a[i, co_out + c]
        last_rows, last_j, last_loss = n, j, total
        # output delta (as Network.output_delta), scaled by 1/n for the mean
        scale = 1.0 / n if mean else 1.0
        act = acts[L - 1]
        for i in range(n):
            y_row = order[r0 + i]
            ysum = 0.0
            if fused and loss == CE:
                ysum = 0.0
                for c in range(n_out):
                    ysum += Y[y_row, c]
            for c in range(n_out):
                yh = a[i, co_out + c]
                y = Y[y_row, c]
                if fused:
                    d = yh * ysum - y if loss == CE else yh - y
                else:
                    if loss == SQUARED_ERROR:
                        g = yh - y
                    elif loss == BCE:
                        p = min(max(yh, LOG_EPS), 1.0 - LOG_EPS)
                        g = (p - y) / (p * (1.0 - p))
                    else:
                        g = -y / min(max(yh, LOG_EPS), 1.0)
                    # softmax is finished below, once the row's g are all in
                    d = g if act == SOFTMAX else _times_prime(act, z[i, co_out + c], yh, g)
                delta[i, co_out + c] = d
            if act == SOFTMAX and not fused:
                dot = 0.0
                for c in range(n_out):
                    dot += delta[i, co_out + c] * a[i, co_out + c]
                for c in range(n_out):
                    delta[i, co_out + c] = a[i, co_out + c] * (delta[i, co_out + c] - dot)
            if mean:
                for c in range(n_out):
                    delta[i, co_out + c] = delta[i, co_out + c] * scale
        # backward: grad_W = a_prevᵀ delta (+ reg), grad_b = Σ delta, delta_prev = δWᵀ ⊙ f'
        for l in range(L - 1, -1, -1):
            n_in, n_o = layers[l], layers[l + 1]
            wo, co = woff[l], coff[l]
            pco = coff[l - 1] if l > 0 else 0
            for p in range(n_in):
                for q in range(n_o):
                    s = 0.0
                    if l == 0:
                        for i in range(n):
                            s += X[order[r0 + i], p] * delta[i, co + q]
                    else:
                        for i in range(n):
                            s += a[i, pco + p] * delta[i, co + q]
                    w = W[wo + p * n_o + q]
                    if reg == REG_L2 and rate != 0.0:
                        s += rate * w
                    elif reg == REG_L1 and rate != 0.0:
                        s += rate * (1.0 if w > 0.0 else (-1.0 if w < 0.0 else 0.0))
                    gW[wo + p * n_o + q] = s
            if train_b:
                for q in range(n_o):
                    s = 0.0
                    for i in range(n):
                        s += delta[i, co + q]
                    gb[boff[l] + q] = s
            if l > 0:
                act_prev = acts[l - 1]
                for i in range(n):
                    for p in range(n_in):
                        s = 0.0
                        for q in range(n_o):
                            s += delta[i, co + q] * W[wo + p * n_o + q]
                        delta[i, pco + p] = _times_prime(act_prev, z[i, pco + p],
                                                         a[i, pco + p], s)
        if pos == nb - 1:  # the epoch's last batch: its gradient norms go into the history
            for l in range(L):
                s = 0.0
                for k2 in range(woff[l], woff[l + 1]):
                    s += gW[k2] * gW[k2]
                grad_sq[k, l] = s
        # update, kept only if every new value is finite (checked element by element)
        if opt == SGD_CODE:
            for k2 in range(len(W)):
                if not math.isfinite(W[k2] - lr * gW[k2]):
                    return k, DIVERGED, last_rows, last_j, last_loss
            if train_b:
                for k2 in range(len(b)):
                    if not math.isfinite(b[k2] - lr * gb[k2]):
                        return k, DIVERGED, last_rows, last_j, last_loss
            for k2 in range(len(W)):
                W[k2] = W[k2] - lr * gW[k2]
            if train_b:
                for k2 in range(len(b)):
                    b[k2] = b[k2] - lr * gb[k2]
        else:
            t = t0 + k + 1
            if not _opt_new(opt, hp, lr, t, W, gW, mW, vW, newW):
                return k, DIVERGED, last_rows, last_j, last_loss
            if train_b and not _opt_new(opt, hp, lr, t, b, gb, mb, vb, newb):
                return k, DIVERGED, last_rows, last_j, last_loss
            _opt_keep(W, mW, vW, newW)
            if train_b:
                _opt_keep(b, mb, vb, newb)
        losses[k] = total
    return stop - start, OK, last_rows, last_j, last_loss
