"""Side-by-side benchmark: kiln vs PyTorch eager vs ONNX Runtime, same
machine, same run, same thread count.

Every figure is the MEDIAN of per-call times, with the 10th-90th percentile
range in brackets (kiln's benches time each call the same way); ratios are
kiln's speed over the peer's, from the medians (> 1: kiln is faster).

Rows (the workloads of issue 13):
  W1  MLP (784-300-100-10, relu, softmax) training, batch 128, Adam,
      sparse categorical cross-entropy (PyTorch: CrossEntropyLoss on logits)
  W2  text classifier (Embedding(4, 64) -> LSTM(64) -> Dense(1, sigmoid),
      16 ids) training at batch 4 and 64, Adam, binary cross-entropy
      (PyTorch: BCEWithLogitsLoss on logits)
  W3  latency of one sample (MLP, LSTM) and MLP inference at batch 1024
      (PyTorch under inference_mode; ONNX Runtime on the network exported
      from PyTorch)
  W4  CNN (28x28x1 -> Conv2D 32 3x3 relu -> MaxPool 2 -> Conv2D 64 3x3 relu
      -> MaxPool 2 -> Flatten -> Dense 10 softmax) training at batch 64,
      Adam 1e-3, sparse categorical cross-entropy, and its batch-1 latency
      (PyTorch in its native NCHW layout, kiln channels-last as Keras)
Not yet here: a Rust peer (candle).

`--rows W4` runs only the named rows (W1..W4; default all).

Peers need a Python environment with torch, onnx, onnxscript and
onnxruntime, kept OUTSIDE the repository, e.g.

    python3 -m venv /work/bench-env
    /work/bench-env/bin/pip install torch onnx onnxscript onnxruntime
    /work/bench-env/bin/python benches/compare.py [--threads 1 2] [--seconds 3]

Without them (or with --kiln-only) only kiln's side runs.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def per_call(fn, seconds):
    """Per-call seconds (median, p10, p90): a tenth of the budget warms up,
    the rest times each call, like kiln's benches/common/mod.rs."""
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 10 or calls < 3:
        fn()
        calls += 1
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds * 0.9 or len(times) < 5:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    at = lambda q: times[round((len(times) - 1) * q)]
    return at(0.5), at(0.1), at(0.9)


def rate(timing, batch):
    """Samples/s (median, p10, p90) from per-call seconds."""
    med, p10, p90 = timing
    return batch / med, batch / p90, batch / p10


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return "unknown", ""
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    flags = set(flags.group(1).split()) if flags else set()
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16") if f in flags]
    return (model.group(1) if model else "unknown"), " ".join(isa)


# ---------------------------------------------------------------- kiln side

def kiln_bench(name, threads, seconds, *extra):
    """Runs a kiln bench; returns {name: (median, p10, p90)} and its '# key: value' lines."""
    env = dict(os.environ, KILN_THREADS=str(threads))
    out = subprocess.run(
        ["cargo", "bench", "-q", "--bench", name, "--", "--seconds", str(seconds), *extra],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    ).stdout
    values = {}
    for k, med, p10, p90 in re.findall(r"^(\S+) ([0-9.]+) \S+ \(p10 ([0-9.]+), p90 ([0-9.]+)\)", out, re.M):
        values[k] = (float(med), float(p10), float(p90))
    info = dict(re.findall(r"^# (\S+): (.*)$", out, re.M))
    return values, info


# ---------------------------------------------------------------- peers

def peers_available():
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
        return True
    except ImportError as e:
        print(f"(peers skipped: {e})")
        return False


def mlp():
    from torch import nn
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


def onnx_session(model, example, threads, dynamic_batch=False):
    import onnxruntime as ort
    import torch
    path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    warnings.filterwarnings("ignore")  # the exporter's deprecation and LSTM batch-size notes
    axes = {"x": {0: "batch"}, "p": {0: "batch"}} if dynamic_batch else None
    torch.onnx.export(model, (example,), path, input_names=["x"], output_names=["p"], dynamic_axes=axes, dynamo=False)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def peer_mlp(threads, seconds, batch):
    import numpy as np
    import torch
    from torch import nn
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

    out = {"train": rate(per_call(step, seconds), batch)}
    infer = nn.Sequential(model, nn.Softmax(dim=-1)).eval()
    one, big = torch.rand(1, 784), torch.rand(1024, 784)
    with torch.inference_mode():
        out["one"] = per_call(lambda: infer(one), seconds)
        out["b1024"] = rate(per_call(lambda: infer(big), seconds), 1024)
    session = onnx_session(infer, one, threads, dynamic_batch=True)
    one_np, big_np = one.numpy(), big.numpy()
    out["ort_one"] = per_call(lambda: session.run(None, {"x": one_np}), seconds)
    out["ort_b1024"] = rate(per_call(lambda: session.run(None, {"x": big_np}), seconds), 1024)
    return out


def cnn():
    from torch import nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 10),
    )


def peer_cnn(threads, seconds, batch):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    model = cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    xs = torch.rand(8, batch, 1, 28, 28)
    ys = torch.randint(0, 10, (8, batch))
    state = {"i": 0}

    def step():
        i = state["i"] = (state["i"] + 1) % 8
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xs[i]), ys[i]).backward()
        opt.step()

    out = {"train": rate(per_call(step, seconds), batch)}
    infer = nn.Sequential(model, nn.Softmax(dim=-1)).eval()
    one = torch.rand(1, 1, 28, 28)
    with torch.inference_mode():
        out["one"] = per_call(lambda: infer(one), seconds)
    session = onnx_session(infer, one, threads)
    one_np = one.numpy()
    out["ort_one"] = per_call(lambda: session.run(None, {"x": one_np}), seconds)
    return out


def peer_text(threads, seconds):
    import numpy as np
    import torch
    from torch import nn

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

        out[f"b{batch}"] = rate(per_call(step, seconds), batch)
    infer = Probability(TextClassifier()).eval()
    one = torch.randint(0, 4, (1, 16))
    with torch.inference_mode():
        out["one"] = per_call(lambda: infer(one), seconds)
    session = onnx_session(infer, one, threads)
    one_np = one.numpy().astype(np.int64)
    out["ort_one"] = per_call(lambda: session.run(None, {"x": one_np}), seconds)
    return out


# ---------------------------------------------------------------- table

def cell(v, unit):
    if v is None:
        return f"{'-':>26}"
    med, p10, p90 = v
    lo, hi = min(p10, p90), max(p10, p90)
    if unit == "us":
        med, lo, hi = med * 1e6, lo * 1e6, hi * 1e6
        return f"{med:>8.1f} [{lo:>6.1f}-{hi:<6.1f}]us"
    return f"{med:>8.0f} [{lo:>6.0f}-{hi:<6.0f}]/s"


def ratio(kiln, peer, unit):
    """kiln's speed over the peer's, from medians."""
    if kiln is None or peer is None:
        return f"{'-':>6}"
    r = peer[0] / kiln[0] if unit == "us" else kiln[0] / peer[0]
    return f"{r:>5.2f}x"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=128, help="W1's batch size")
    parser.add_argument("--cnn-batch", type=int, default=64, help="W4's batch size")
    parser.add_argument("--rows", nargs="+", default=["W1", "W2", "W3", "W4"], choices=["W1", "W2", "W3", "W4"])
    parser.add_argument("--kiln-only", action="store_true", help="skip PyTorch and ONNX Runtime")
    args = parser.parse_args()
    peers = not args.kiln_only and peers_available()
    rows_wanted = set(args.rows)
    need_mlp = bool(rows_wanted & {"W1", "W3"})
    need_text = bool(rows_wanted & {"W2", "W3"})
    need_cnn = "W4" in rows_wanted
    benches = [b for b, need in (("mlp", need_mlp), ("text", need_text), ("cnn", need_cnn)) if need]
    build = ["cargo", "bench", "--no-run", "-q"] + [a for b in benches for a in ("--bench", b)]
    subprocess.run(build, cwd=ROOT, check=True)

    model, isa = cpu_model()
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"cpu: {model}; {os.cpu_count()} cpus; flags: {isa}")
    if hasattr(os, "getloadavg"):
        print("load average at start: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    if peers:
        import onnxruntime as ort
        import torch
        cap = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?"
        print(f"torch {torch.__version__} (cpu capability {cap}), onnxruntime {ort.__version__}")
    print("median [p10-p90] of per-call times; ratio = kiln speed / peer speed (from medians)")
    print()
    header = f"{'row':<26} {'thr':>3} | {'kiln':>28} | {'PyTorch':>28} {'ratio':>6} | {'ONNX Runtime':>28} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        info = {}
        k_mlp, k_text, k_cnn = {}, {}, {}
        if need_mlp:
            k_mlp, info = kiln_bench("mlp", threads, args.seconds, "--batch", str(args.batch))
        if need_text:
            k_text, info = kiln_bench("text", threads, args.seconds)
        if need_cnn:
            k_cnn, info = kiln_bench("cnn", threads, args.seconds, "--batch", str(args.cnn_batch))
        if threads == args.threads[0]:
            print(f"(kiln path: {info.get('kiln_isa', '?')})")
        p_mlp = peer_mlp(threads, args.seconds, args.batch) if peers and need_mlp else {}
        p_text = peer_text(threads, args.seconds) if peers and need_text else {}
        p_cnn = peer_cnn(threads, args.seconds, args.cnn_batch) if peers and need_cnn else {}
        rows = [
            ("W1", f"W1 MLP train b{args.batch}", "/s", k_mlp.get("kiln_train_samples_per_s"), p_mlp.get("train"), None),
            ("W2", "W2 text train b4", "/s", k_text.get("kiln_text_train_b4_samples_per_s"), p_text.get("b4"), None),
            ("W2", "W2 text train b64", "/s", k_text.get("kiln_text_train_b64_samples_per_s"), p_text.get("b64"), None),
            ("W3", "W3 MLP 1-sample latency", "us", k_mlp.get("kiln_predict_one_latency"), p_mlp.get("one"), p_mlp.get("ort_one")),
            ("W3", "W3 LSTM 1-sample latency", "us", k_text.get("kiln_text_predict_one_latency"), p_text.get("one"), p_text.get("ort_one")),
            ("W3", "W3 MLP infer b1024", "/s", k_mlp.get("kiln_predict_b1024_samples_per_s"), p_mlp.get("b1024"), p_mlp.get("ort_b1024")),
            ("W4", f"W4 CNN train b{args.cnn_batch}", "/s", k_cnn.get("kiln_cnn_train_samples_per_s"), p_cnn.get("train"), None),
            ("W4", "W4 CNN 1-sample latency", "us", k_cnn.get("kiln_cnn_predict_one_latency"), p_cnn.get("one"), p_cnn.get("ort_one")),
        ]
        for row, name, unit, k, t, o in rows:
            if row not in rows_wanted:
                continue
            k = tuple(x * 1e-6 for x in k) if (k is not None and unit == "us") else k
            print(f"{name:<26} {threads:>3} | {cell(k, unit)} | {cell(t, unit)} {ratio(k, t, unit)} | "
                  f"{cell(o, unit)} {ratio(k, o, unit)}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
