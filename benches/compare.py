"""Side-by-side benchmark: kiln vs PyTorch eager, ONNX Runtime and candle
(a Rust peer), same machine, same run, same thread count.

Every figure is the MEDIAN of per-call times, with the 10th-90th percentile
range in brackets (kiln's benches and the candle peer time each call the
same way: a tenth of the budget warms up, then every call is timed). The
ratio is kiln's speed over the peer's (> 1: kiln is faster), taken from the
medians of one round, where kiln and the peers ran back to back; with
--rounds N every round runs every side at every thread count, figures are
the median over rounds of the per-call medians (brackets: lowest p10 to
highest p90 over rounds), and the ratio is the median of the per-round
ratios, so a load spike on a shared machine hits both sides of a ratio.
The "vs 1thr" column is kiln at this thread count over kiln at 1 thread
in the same round (the thread policy's check: it must not fall below 1
beyond noise). Within a round each thread count runs kiln, then the
peers; odd rounds take the thread counts in reverse order.

Rows (the workloads of issue 13):
  W1  MLP (784-300-100-10, relu, softmax) training, batch 128, Adam,
      sparse categorical cross-entropy (peers: cross-entropy on logits)
  W2  text classifier (Embedding(4, 64) -> LSTM(64) -> Dense(1, sigmoid),
      16 ids) training at batch 4 and 64, Adam, binary cross-entropy
      (peers: BCE with logits)
  W3  latency of one sample (MLP, LSTM) and MLP inference at batch 1024
      (PyTorch under inference_mode; ONNX Runtime on the network exported
      from PyTorch; candle's forward without gradients)
  W4  CNN (28x28x1 -> Conv2D 32 3x3 relu -> MaxPool 2 -> Conv2D 64 3x3 relu
      -> MaxPool 2 -> Flatten -> Dense 10 softmax) training at batch 64,
      Adam 1e-3, sparse categorical cross-entropy, and its batch-1 latency
      (PyTorch and candle in their native NCHW layout, kiln channels-last
      as Keras)

Usage:

    /work/bench-env/bin/python benches/compare.py [--threads 1 2] [--seconds 3]
        [--rounds 3] [--rows W1 W3] [--markdown table.md] [--quick]

--quick (or KILN_BENCH_QUICK=1) is a smoke run: 0.3 s per figure, one
round; it checks that every side runs and parses, its numbers mean little.
--markdown FILE writes the table (with date, CPU, ISA flags, versions and
load average) in the form the README's benchmark section takes.

Peers need a Python environment with torch, onnx, onnxscript and
onnxruntime, kept OUTSIDE the repository, e.g.

    python3 -m venv /work/bench-env
    /work/bench-env/bin/pip install torch onnx onnxscript onnxruntime

The candle peer is its own cargo project (benches/peers/candle, its own
workspace, excluded from the root one so `cargo test` and CI never build
it); this script builds it with `cargo build --release --manifest-path ...`
(into target/peers) and sets RAYON_NUM_THREADS and CANDLE_NUM_THREADS to the
thread count. Without cargo, or if the build fails, candle is skipped with a
note. --kiln-only skips every peer; --no-candle only candle.
"""
import argparse
import os
import platform
import shutil
import statistics
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


# ---------------------------------------------------------------- candle

CANDLE_DIR = os.path.join(ROOT, "benches", "peers", "candle")
CANDLE_TARGET = os.path.join(ROOT, "target", "peers")


def candle_build():
    """Builds the candle peer; returns its binary's path, or None with a note."""
    if shutil.which("cargo") is None:
        print("(candle skipped: no cargo on PATH)")
        return None
    manifest = os.path.join(CANDLE_DIR, "Cargo.toml")
    build = ["cargo", "build", "--release", "-q", "--manifest-path", manifest, "--target-dir", CANDLE_TARGET]
    done = subprocess.run(build, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        print("(candle skipped: its build failed:)\n" + done.stderr[-2000:])
        return None
    return os.path.join(CANDLE_TARGET, "release", "kiln-peer-candle")


def candle_version():
    """candle-core's version from the peer's lock file."""
    try:
        with open(os.path.join(CANDLE_DIR, "Cargo.lock")) as f:
            found = re.search(r'name = "candle-core"\nversion = "([^"]+)"', f.read())
        return found.group(1) if found else "?"
    except OSError:
        return "?"


def candle_bench(binary, threads, seconds, rows, batch, cnn_batch):
    """Runs the candle peer; returns {name: (median, p10, p90)} like kiln_bench."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), CANDLE_NUM_THREADS=str(threads))
    args = [binary, "--seconds", str(seconds), "--batch", str(batch), "--cnn-batch", str(cnn_batch), "--rows", *rows]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"(candle failed at {threads} threads: {done.stderr.strip()[-500:]})")
        return {}
    values = {}
    for k, med, p10, p90 in re.findall(r"^(\S+) ([0-9.]+) \S+ \(p10 ([0-9.]+), p90 ([0-9.]+)\)", done.stdout, re.M):
        values[k] = (float(med), float(p10), float(p90))
    return values


# ---------------------------------------------------------------- table

def speed_ratio(kiln, peer, unit):
    """kiln's speed over the peer's, from medians (None if either is missing)."""
    if kiln is None or peer is None:
        return None
    return peer[0] / kiln[0] if unit == "us" else kiln[0] / peer[0]


def combine(values):
    """One figure from the rounds' (median, p10, p90): the median of the
    medians, the lowest p10 and the highest p90 (rates and times alike)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    lo = min(min(v[1], v[2]) for v in values)
    hi = max(max(v[1], v[2]) for v in values)
    return statistics.median(v[0] for v in values), lo, hi


def fmt(v, unit, width=22):
    if v is None:
        return f"{'-':>{width}}"
    med, lo, hi = v
    if unit == "us":
        text = f"{med * 1e6:.1f} [{lo * 1e6:.1f}-{hi * 1e6:.1f}] us"
    else:
        text = f"{med:.0f} [{lo:.0f}-{hi:.0f}]/s"
    return f"{text:>{width}}"


def fmt_ratio(r, width=6):
    text = "-" if r is None else f"{r:.2f}x"
    return f"{text:>{width}}"


PEERS = (("torch", "PyTorch"), ("ort", "ONNX Runtime"), ("candle", "candle"))


def row_specs(args):
    """(row, label, unit, kiln key, {peer: (source, key)})."""
    return [
        ("W1", f"W1 MLP train b{args.batch}", "/s", ("mlp", "kiln_train_samples_per_s"),
         {"torch": ("mlp", "train"), "candle": ("candle", "candle_train_samples_per_s")}),
        ("W2", "W2 text train b4", "/s", ("text", "kiln_text_train_b4_samples_per_s"),
         {"torch": ("text", "b4"), "candle": ("candle", "candle_text_train_b4_samples_per_s")}),
        ("W2", "W2 text train b64", "/s", ("text", "kiln_text_train_b64_samples_per_s"),
         {"torch": ("text", "b64"), "candle": ("candle", "candle_text_train_b64_samples_per_s")}),
        ("W3", "W3 MLP 1-sample latency", "us", ("mlp", "kiln_predict_one_latency"),
         {"torch": ("mlp", "one"), "ort": ("mlp", "ort_one"), "candle": ("candle", "candle_predict_one_latency")}),
        ("W3", "W3 LSTM 1-sample latency", "us", ("text", "kiln_text_predict_one_latency"),
         {"torch": ("text", "one"), "ort": ("text", "ort_one"),
          "candle": ("candle", "candle_text_predict_one_latency")}),
        ("W3", "W3 MLP infer b1024", "/s", ("mlp", "kiln_predict_b1024_samples_per_s"),
         {"torch": ("mlp", "b1024"), "ort": ("mlp", "ort_b1024"),
          "candle": ("candle", "candle_predict_b1024_samples_per_s")}),
        ("W4", f"W4 CNN train b{args.cnn_batch}", "/s", ("cnn", "kiln_cnn_train_samples_per_s"),
         {"torch": ("cnn", "train"), "candle": ("candle", "candle_cnn_train_samples_per_s")}),
        ("W4", "W4 CNN 1-sample latency", "us", ("cnn", "kiln_cnn_predict_one_latency"),
         {"torch": ("cnn", "one"), "ort": ("cnn", "ort_one"), "candle": ("candle", "candle_cnn_predict_one_latency")}),
    ]


def run_round(args, threads, peers, candle_bin, wanted):
    """One round at one thread count: {source: {key: (median, p10, p90)}}."""
    need_mlp = bool(wanted & {"W1", "W3"})
    need_text = bool(wanted & {"W2", "W3"})
    need_cnn = "W4" in wanted
    got = {"kiln": {}, "info": {}}
    if need_mlp:
        values, got["info"] = kiln_bench("mlp", threads, args.seconds, "--batch", str(args.batch))
        got["kiln"].update(values)
    if need_text:
        values, got["info"] = kiln_bench("text", threads, args.seconds)
        got["kiln"].update(values)
    if need_cnn:
        values, got["info"] = kiln_bench("cnn", threads, args.seconds, "--batch", str(args.cnn_batch))
        got["kiln"].update(values)
    got["mlp"] = peer_mlp(threads, args.seconds, args.batch) if peers and need_mlp else {}
    got["text"] = peer_text(threads, args.seconds) if peers and need_text else {}
    got["cnn"] = peer_cnn(threads, args.seconds, args.cnn_batch) if peers and need_cnn else {}
    got["candle"] = (candle_bench(candle_bin, threads, args.seconds, sorted(wanted), args.batch, args.cnn_batch)
                     if candle_bin else {})
    return got


def lookup(got, unit, source_key):
    source, key = source_key
    v = got.get(source, {}).get(key)
    if v is not None and unit == "us" and source in ("kiln", "candle"):
        v = tuple(x * 1e-6 for x in v)  # the Rust benches print microseconds
    return v


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (every side, every thread count)")
    parser.add_argument("--batch", type=int, default=128, help="W1's batch size")
    parser.add_argument("--cnn-batch", type=int, default=64, help="W4's batch size")
    parser.add_argument("--rows", nargs="+", default=["W1", "W2", "W3", "W4"], choices=["W1", "W2", "W3", "W4"])
    parser.add_argument("--kiln-only", action="store_true", help="skip every peer")
    parser.add_argument("--no-candle", action="store_true", help="skip the candle peer")
    parser.add_argument("--quick", action="store_true", help="smoke run: 0.3 s per figure, one round")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as markdown to FILE")
    args = parser.parse_args()
    if args.quick or os.environ.get("KILN_BENCH_QUICK") == "1":
        args.seconds, args.rounds, args.quick = 0.3, 1, True
    peers = not args.kiln_only and peers_available()
    wanted = set(args.rows)
    benches = [b for b, need in (("mlp", wanted & {"W1", "W3"}), ("text", wanted & {"W2", "W3"}),
                                 ("cnn", "W4" in wanted)) if need]
    build = ["cargo", "bench", "--no-run", "-q"] + [a for b in benches for a in ("--bench", b)]
    subprocess.run(build, cwd=ROOT, check=True)
    candle_bin = None if (args.kiln_only or args.no_candle) else candle_build()

    model, isa = cpu_model()
    header = [
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"cpu: {model}; {os.cpu_count()} logical cpus; flags: {isa}",
    ]
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip() or "rustc ?"
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    versions = [f"kiln {rev.stdout.strip() or '?'} ({rustc})"]
    if peers:
        import onnxruntime as ort
        import torch
        cap = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else "?"
        versions.append(f"PyTorch {torch.__version__} (cpu capability {cap})")
        versions.append(f"ONNX Runtime {ort.__version__}")
    if candle_bin:
        versions.append(f"candle {candle_version()}")
    versions.append(f"Python {platform.python_version()}")
    header.append("versions: " + ", ".join(versions))
    if hasattr(os, "getloadavg"):
        header.append("load average at start: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    header.append(f"per figure: {args.seconds} s budget, {args.rounds} round(s)" + (" (QUICK: smoke run)" if args.quick else ""))
    for line in header:
        print(line)
    print("median [p10-p90] of per-call times; ratio = kiln speed / peer speed (> 1: kiln faster)")
    print()
    sys.stdout.flush()

    # results[round][threads] = run_round(...); thread counts interleave within a round.
    results = []
    for r in range(args.rounds):
        results.append({})
        # Odd rounds take the thread counts in reverse, so a drift of the
        # machine's load does not always favour the same count.
        order = args.threads if r % 2 == 0 else list(reversed(args.threads))
        for threads in order:
            results[r][threads] = run_round(args, threads, peers, candle_bin, wanted)
            if r == 0 and threads == order[0]:
                kiln_isa = results[r][threads]["info"].get("kiln_isa", "?")
                header.append(f"kiln kernels: {kiln_isa}")
                print(f"(kiln kernels: {kiln_isa})")
        if args.rounds > 1:
            print(f"(round {r + 1} of {args.rounds} done)")
            sys.stdout.flush()

    specs = [s for s in row_specs(args) if s[0] in wanted]
    table = []  # (label, threads, kiln, {peer: (value, ratio)}, scaling)
    for label_row, label, unit, kiln_key, peer_keys in specs:
        for threads in args.threads:
            kilns = [lookup(results[r][threads], unit, ("kiln", kiln_key[1])) for r in range(args.rounds)]
            cells = {}
            for peer, _ in PEERS:
                if peer not in peer_keys:
                    cells[peer] = (None, None)
                    continue
                source, key = peer_keys[peer]
                source = "candle" if peer == "candle" else source
                values = [lookup(results[r][threads], unit, (source, key)) for r in range(args.rounds)]
                ratios = [speed_ratio(k, v, unit) for k, v in zip(kilns, values)]
                ratios = [x for x in ratios if x is not None]
                cells[peer] = (combine(values), statistics.median(ratios) if ratios else None)
            scaling = None
            if threads != 1 and 1 in args.threads:
                ones = [lookup(results[r][1], unit, ("kiln", kiln_key[1])) for r in range(args.rounds)]
                ratios = [speed_ratio(k, o, unit) for k, o in zip(kilns, ones)]
                ratios = [x for x in ratios if x is not None]
                scaling = statistics.median(ratios) if ratios else None
            table.append((label, threads, unit, combine(kilns), cells, scaling))

    head = f"{'row':<26} {'thr':>3} | {'kiln':>24} {'vs 1thr':>7} |"
    for _, name in PEERS:
        head += f" {name:>24} {'ratio':>6} |"
    print(head)
    print("-" * len(head))
    for label, threads, unit, kiln, cells, scaling in table:
        line = f"{label:<26} {threads:>3} | {fmt(kiln, unit, 24)} {fmt_ratio(scaling, 7)} |"
        for peer, _ in PEERS:
            value, r = cells[peer]
            line += f" {fmt(value, unit, 24)} {fmt_ratio(r)} |"
        print(line)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(header, table))
        print(f"\n(markdown table written to {args.markdown})")


def markdown(header, table):
    """The README's benchmark table: header lines, then one row per workload and thread count."""
    md = "".join(f"- {line}\n" for line in header)
    md += "- figures: median of per-call times [p10–p90]; ×: kiln's speed over the peer's (> 1: kiln faster); "
    md += "vs 1 thr: kiln at this thread count over kiln at 1 thread, same round\n\n"
    md += "| row | threads | kiln | vs 1 thr | PyTorch | × | ONNX Runtime | × | candle | × |\n"
    md += "|---|---|---|---|---|---|---|---|---|---|\n"
    for label, threads, unit, kiln, cells, scaling in table:
        cols = [label, str(threads), fmt(kiln, unit, 0).strip(), fmt_ratio(scaling, 0).strip()]
        for peer, _ in PEERS:
            value, r = cells[peer]
            cols += [fmt(value, unit, 0).strip(), fmt_ratio(r, 0).strip()]
        md += "| " + " | ".join(cols) + " |\n"
    return md


if __name__ == "__main__":
    main()
