"""Side-by-side benchmark: kiln vs PyTorch eager vs ONNX Runtime on the
tutorials' MLP (784-300-100-10, relu, softmax), same machine, same run,
same thread count.

  training : samples/s, batch 128, Adam, sparse categorical cross-entropy
             (PyTorch: CrossEntropyLoss on logits, its idiomatic fused path)
  inference: latency of one sample (PyTorch under inference_mode; ONNX
             Runtime on the same network exported from PyTorch)

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
    subprocess.run(["cargo", "bench", "--no-run", "-q", "--bench", "mlp"], cwd=ROOT, check=True)
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


if __name__ == "__main__":
    main()
