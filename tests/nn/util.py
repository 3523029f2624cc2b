"""Glue between the independent reference (tests/nn/reference.py) and the engine's types."""

from __future__ import annotations

import numpy as np

from app.nn.losses import Regularization
from app.nn.network import Network, Spec
from app.nn.stepper import Data, Hyper, Trainer
from tests.nn.reference import Cfg


def spec_of(cfg: Cfg) -> Spec:
    return Spec(
        layers=tuple(cfg.layers),
        hidden_activation=cfg.hidden,
        output_activation=cfg.output,
        loss=cfg.loss,
        reduction=cfg.reduction,
        bias=cfg.bias,
        regularization=Regularization(cfg.reg_kind, cfg.reg_rate),
    )


def network(cfg: Cfg, Ws, bs) -> Network:
    return Network(
        spec_of(cfg),
        [np.array(W, dtype=np.float64) for W in Ws],
        None if bs is None else [np.array(b, dtype=np.float64) for b in bs],
    )


def trainer(cfg: Cfg, Ws, bs, X, Y, lr: float, **kw) -> Trainer:
    X_test, Y_test = kw.pop("X_test", None), kw.pop("Y_test", None)
    # The hyperparameters the Trainer reads (it keeps no copies of them).
    hyper = Hyper(lr, **{k: kw.pop(k) for k in ("batch_size", "train_bias", "shuffle_seed")
                         if k in kw})
    return Trainer(
        net=network(cfg, Ws, bs),
        data=Data(np.array(X, dtype=np.float64), np.array(Y, dtype=np.float64), X_test, Y_test),
        hyper=hyper,
        **kw,
    )


def engine_grads(net: Network, X, Y):
    zs, acts = net.forward(X)
    _, gW, gb = net.backward(zs, acts, Y)
    return gW, gb
