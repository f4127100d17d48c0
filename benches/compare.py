"""Side-by-side benchmark: kiln vs PyTorch eager vs ONNX Runtime, same
machine, same run, same thread count, on two of the tutorials' models.

MLP (784-300-100-10, relu, softmax):
  training : samples/s, batch 128, Adam, sparse categorical cross-entropy
             (PyTorch: CrossEntropyLoss on logits, its idiomatic fused path)
  inference: latency of one sample (PyTorch under inference_mode; ONNX
             Runtime on the same network exported from PyTorch)

Text classifier (Embedding(4, 64) -> LSTM(64) -> Dense(1, sigmoid), 16 ids):
  training : samples/s at batch 4 and 64, Adam, binary cross-entropy
             (PyTorch: BCEWithLogitsLoss on logits)
  inference: latency of one sample, as above

Needs a Python environment with torch, onnx, onnxscript and onnxruntime
(kept outside the repository), e.g.

    python3 -m venv ../bench-env && ../bench-env/bin/pip install torch onnx onnxscript onnxruntime
    ../bench-env/bin/python benches/compare.py [--threads 1 2] [--seconds 3]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_time_per_call(fn, seconds):
    """Best of five rounds after a warm-up, like the Rust side."""
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 10 or calls < 3:
        fn()
        calls += 1
    per_round = max(1, int(calls * 0.9 / 5)) * 2
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(per_round):
            fn()
        best = min(best, (time.perf_counter() - t) / per_round)
    return best


def mlp():
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


def torch_numbers(threads, seconds, batch):
    torch.set_num_threads(threads)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    xs = torch.rand(8, batch, 784) - 0.5
    ys = torch.randint(0, 10, (8, batch))
    state = {"i": 0}

    def step():
        i = state["i"] = (state["i"] + 1) % 8
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xs[i]), ys[i])
        loss.backward()
        opt.step()

    train = batch / best_time_per_call(step, seconds)
    infer_model = nn.Sequential(model, nn.Softmax(dim=-1)).eval()
    one = torch.rand(1, 784)
    with torch.inference_mode():
        latency = best_time_per_call(lambda: infer_model(one), seconds)
    return train, latency, infer_model


def onnx_latency(model, threads, seconds):
    path = os.path.join(tempfile.mkdtemp(), "mlp.onnx")
    torch.onnx.export(model, (torch.rand(1, 784),), path, input_names=["x"], output_names=["p"], dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    one = np.random.rand(1, 784).astype(np.float32)
    return best_time_per_call(lambda: session.run(None, {"x": one}), seconds)


class TextClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(4, 64)
        self.lstm = nn.LSTM(64, 64, batch_first=True)
        self.dense = nn.Linear(64, 1)

    def forward(self, ids):
        _, (h, _) = self.lstm(self.embedding(ids))
        return self.dense(h[-1])


class Probability(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, ids):
        return torch.sigmoid(self.logits(ids))


def torch_text_numbers(threads, seconds):
    torch.set_num_threads(threads)
    out = {}
    for batch in (4, 64):
        model = TextClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=0.05, eps=1e-7)
        loss_fn = nn.BCEWithLogitsLoss()
        xs = torch.randint(0, 4, (8, batch, 16))
        ys = torch.randint(0, 2, (8, batch, 1)).float()
        state = {"i": 0}

        def step():
            i = state["i"] = (state["i"] + 1) % 8
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xs[i]), ys[i]).backward()
            opt.step()

        out[batch] = batch / best_time_per_call(step, seconds)
    infer = Probability(TextClassifier()).eval()
    one = torch.randint(0, 4, (1, 16))
    with torch.inference_mode():
        latency = best_time_per_call(lambda: infer(one), seconds)
    return out[4], out[64], latency, infer


def onnx_text_latency(model, threads, seconds):
    path = os.path.join(tempfile.mkdtemp(), "text.onnx")
    torch.onnx.export(model, (torch.randint(0, 4, (1, 16)),), path, input_names=["ids"], output_names=["p"], dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    one = np.random.randint(0, 4, (1, 16)).astype(np.int64)
    return best_time_per_call(lambda: session.run(None, {"ids": one}), seconds)


def kiln_bench(name, threads, seconds, *extra):
    env = dict(os.environ, KILN_THREADS=str(threads))
    out = subprocess.run(
        ["cargo", "bench", "-q", "--bench", name, "--", "--seconds", str(seconds), *extra],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout
    return {k: float(v) for k, v in re.findall(r"^(\S+) ([0-9.]+)", out, re.M)}


def kiln_numbers(threads, seconds, batch):
    env = dict(os.environ, KILN_THREADS=str(threads))
    out = subprocess.run(
        ["cargo", "bench", "-q", "--bench", "mlp", "--", "--seconds", str(seconds), "--batch", str(batch)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout
    values = dict(re.findall(r"^(\S+) ([0-9.]+)", out, re.M))
    return float(values["kiln_train_samples_per_s"]), float(values["kiln_predict_one_latency"]) * 1e-6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    subprocess.run(["cargo", "bench", "--no-run", "-q", "--bench", "mlp", "--bench", "text"], cwd=ROOT, check=True)
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {os.cpu_count()} cpus")
    print(f"{'threads':>7} | {'kiln train':>12} {'torch train':>12} {'ratio':>6} | "
          f"{'kiln 1-sample':>13} {'torch':>9} {'ratio':>6} {'onnxrt':>9} {'ratio':>6}")
    for threads in args.threads:
        k_train, k_lat = kiln_numbers(threads, args.seconds, args.batch)
        t_train, t_lat, infer_model = torch_numbers(threads, args.seconds, args.batch)
        o_lat = onnx_latency(infer_model, threads, args.seconds)
        print(f"{threads:>7} | {k_train:>10.0f}/s {t_train:>10.0f}/s {k_train / t_train:>5.2f}x | "
              f"{k_lat * 1e6:>10.1f} us {t_lat * 1e6:>6.1f} us {t_lat / k_lat:>5.1f}x "
              f"{o_lat * 1e6:>6.1f} us {o_lat / k_lat:>5.1f}x")
        sys.stdout.flush()
    print()
    print("text classifier (Embedding(4, 64) -> LSTM(64) -> Dense(1, sigmoid))")
    print(f"{'threads':>7} | {'kiln b4':>9} {'torch b4':>9} {'ratio':>6} | {'kiln b64':>9} {'torch b64':>9} {'ratio':>6} | "
          f"{'kiln 1-sample':>13} {'torch':>9} {'ratio':>6} {'onnxrt':>9} {'ratio':>6}")
    for threads in args.threads:
        k = kiln_bench("text", threads, args.seconds)
        k4, k64 = k["kiln_text_train_b4_samples_per_s"], k["kiln_text_train_b64_samples_per_s"]
        k_lat = k["kiln_text_predict_one_latency"] * 1e-6
        t4, t64, t_lat, infer = torch_text_numbers(threads, args.seconds)
        o_lat = onnx_text_latency(infer, threads, args.seconds)
        print(f"{threads:>7} | {k4:>7.0f}/s {t4:>7.0f}/s {k4 / t4:>5.2f}x | {k64:>7.0f}/s {t64:>7.0f}/s {k64 / t64:>5.2f}x | "
              f"{k_lat * 1e6:>10.1f} us {t_lat * 1e6:>6.1f} us {t_lat / k_lat:>5.1f}x {o_lat * 1e6:>6.1f} us {o_lat / k_lat:>5.1f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
