"""The lesson's XOR network through the REST API: one update stepped layer by layer, then the
rest of its 10,000 epochs. Start the server first (`backprop-lab`), then run
`python3 examples/python_session.py` (or pass another base URL as the argument).

Numbers are printed to 12 significant digits: the last digits of a float64 can depend on the
CPU (its BLAS kernel and vector units), these do not."""

import sys

import httpx

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"


def show(values):
    return "[" + ", ".join(f"{v:.12g}" for v in values) + "]"


with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as api:
    s = api.post("/sessions", json={"preset": "seed-xor"}).json()
    sid = s["id"]
    s = api.post(f"/sessions/{sid}/forward", json={"through": "all"}).json()
    print(f"loss {s['loss']:.12g}, mse {s['metrics']['mse']:.12g}")  # the lesson's Epoch 0
    s = api.post(f"/sessions/{sid}/backward").json()
    print("delta[2] =", show(row[0] for row in s["layers"][1]["delta"]))
    print("grad_W[2] =", show(row[0] for row in s["layers"][1]["grad_W"]))
    api.post(f"/sessions/{sid}/backward")
    s = api.post(f"/sessions/{sid}/update").json()
    print("cursor", s["cursor"], "epoch", s["epoch"])
    while s["epoch"] < 10_000:  # a call stops at the time budget (2 s): go on
        s = api.post(f"/sessions/{sid}/train", json={"epochs": 10_000 - s["epoch"]}).json()
    print(f"epoch {s['epoch']}, mse {s['metrics']['mse']:.12g}")
    s = api.post(f"/sessions/{sid}/forward", json={"through": "all"}).json()
    print("predictions", show(row[0] for row in s["output"]))
    api.delete(f"/sessions/{sid}")
