#!/usr/bin/env python3
"""docs/SCALING.md's cost model: reads the output of
examples/distributed_scaling.rs, prints the measured table, fits the
all-reduce's alpha and beta, and extrapolates to 8, 64 and 512 workers.

    python3 benches/scaling_model.py "1 rank=/tmp/scaling/n1.*.txt" \
        "2 ranks, shared memory=/tmp/scaling/n2sm.*.txt" "2 ranks, TCP loopback=/tmp/scaling/n2tcp.*.txt"

Each argument is `label=glob`: the runs of one configuration. A run prints,
per figure, the median round and the slowest and fastest; the table shows
the median over runs of the medians, and the slowest and fastest round of
all runs.
"""
import glob
import math
import re
import statistics
import sys

LINE = re.compile(r"^(?P<name>[^:]+): (?P<value>[\d.]+) (?P<unit>samples/s|ms/call) "
                  r"\(slowest round (?P<slow>[\d.]+), fastest (?P<fast>[\d.]+)\)(; (?P<ms>[\d.]+) ms/step)?")


def read(pattern):
    """name -> list of (median, slowest, fastest, ms/step) over the runs."""
    runs = {}
    for path in sorted(glob.glob(pattern)):
        for line in open(path):
            m = LINE.match(line.strip())
            if m:
                ms = float(m["ms"]) if m["ms"] else None
                runs.setdefault(m["name"], []).append((float(m["value"]), float(m["slow"]), float(m["fast"]), ms))
    return runs


def summary(values):
    med = statistics.median(v[0] for v in values)
    lo = min(min(v[1], v[2]) for v in values)
    hi = max(max(v[1], v[2]) for v in values)
    return med, lo, hi, len(values)


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


groups = [a.split("=", 1) for a in sys.argv[1:]]
data = {label: read(pattern) for label, pattern in groups}

print("## Measured (median of runs; range = slowest to fastest round of all runs)\n")
print("| configuration | figure | median | range | runs |")
print("|---|---|---|---|---|")
for label, runs in data.items():
    for name, values in runs.items():
        med, lo, hi, n = summary(values)
        unit = "samples/s" if "train" in name or "compute" in name else "ms"
        print(f"| {label} | {name} | {fmt(med)} {unit} | {fmt(lo)}–{fmt(hi)} | {n} |")

# alpha, beta from the 2-rank sweep: T(S) = 2(N-1) alpha + 2(N-1)/N S beta = 2 alpha + S beta.
print("\n## All-reduce fit, N = 2: T(S) = 2α + S·β (least squares on the sweep's medians)\n")
fits = {}
for label, runs in data.items():
    sweep = [(int(re.search(r"= (\d+) bytes", n)[1]), statistics.median(v[0] for v in vs))
             for n, vs in runs.items() if n.startswith("all-reduce sweep")]
    if "1 rank" in label or len(sweep) < 2:
        continue
    xs, ys = [s for s, _ in sweep], [t * 1e-3 for _, t in sweep]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    beta = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    alpha = max((my - beta * mx) / 2, 0.0)
    # The smallest message is latency alone: a better alpha than the intercept.
    alpha_small = ys[xs.index(min(xs))] / 2
    fits[label] = (alpha_small, beta)
    print(f"- {label}: α = {alpha_small * 1e6:.0f} µs (4-byte message / 2; intercept {alpha * 1e6:.0f} µs), "
          f"β = {beta * 1e9:.2f} ns/byte ({8 / beta / 1e9:.2f} Gbit/s)")

# Model check at N = 2: step = compute(B/2) + all-reduce(fused).
print("\n## Model check at N = 2: compute alone (B/2 per rank) + fused all-reduce alone vs the measured step\n")
print("| configuration | model | compute | all-reduce | sum | measured step | unexplained (waiting) |")
print("|---|---|---|---|---|---|---|")
for label, runs in data.items():
    if "1 rank" in label:
        continue
    for model, batch in (("mlp", 128), ("text", 64)):
        def get(prefix):
            return [statistics.median(v[0] for v in vs) for n, vs in runs.items() if n.startswith(prefix)][0]
        rate_c = get(f"{model} compute alone")
        t_c = (batch / 2) / rate_c * 1e3
        t_ar = get(f"{model} fused all-reduce")
        t_step = batch / get(f"{model} train") * 1e3
        print(f"| {label} | {model} | {t_c:.2f} ms | {t_ar:.2f} ms | {t_c + t_ar:.2f} ms | {t_step:.2f} ms | "
              f"{t_step - t_c - t_ar:.2f} ms |")

# Extrapolation.
MODELS = {
    # name: (global batch, fused bytes, compute µs/sample, per-step overhead µs, fraction of gradient bytes
    #        ready before the last layer's backward (what overlap could hide))
    # Compute: README's Speed table (quiet machine, one thread): MLP 129k samples/s at batch 128;
    # text 43.2k/s at batch 64 and 15.3k/s at batch 4 -> t0 + b*c fit.
    "W1 MLP 784-300-100-10": (128, 266613 * 4, 1e6 / 129e3, 0.0, (30100 + 1010) / 266610),
    "text LSTM classifier": (64, 33348 * 4, (64 / 43.2e3 - 4 / 15.3e3) / 60 * 1e6,
                             (4 / 15.3e3 - 4 * (64 / 43.2e3 - 4 / 15.3e3) / 60) * 1e6, 65 / 33345),
}
NETS = {"10 Gbit/s (TCP, α = 25 µs)": (25e-6, 8 / 10e9), "100 Gbit/s (RDMA, α = 3 µs)": (3e-6, 8 / 100e9)}


def ring(n, size, alpha, beta):
    return 2 * (n - 1) * alpha + 2 * (n - 1) / n * size * beta


print("\n## Extrapolation (ring all-reduce, one fused buffer per step)\n")
for mname, (B, size, c, t0, early) in MODELS.items():
    c, t0 = c * 1e-6, t0 * 1e-6
    print(f"\n### {mname}: {size / 1e6:.2f} MB per step, {c * 1e6:.1f} µs/sample compute, {t0 * 1e6:.0f} µs/step overhead\n")
    print("| network | N | per-worker batch | compute | all-reduce (α part) | samples/s | speed-up vs 1 | efficiency | fp16 | log-depth α | overlap ≤ |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for net, (alpha, beta) in NETS.items():
        for mode in ("strong", "weak"):
            for n in (8, 64, 512):
                b = B / n if mode == "strong" else B
                glob_b = B if mode == "strong" else B * n
                if b < 1:
                    print(f"| {net} | {n} | {B}/{n} < 1 sample | – | – | – | – | – | – | – | – |")
                    continue
                t_c = t0 + b * c
                t_ar = ring(n, size, alpha, beta)
                t_alpha = 2 * (n - 1) * alpha
                step = t_c + t_ar
                rate = glob_b / step
                one = B / (t0 + B * c) if mode == "strong" else b / t_c
                speedup = rate / one
                eff = rate / (n * b / t_c)
                fp16 = glob_b / (t_c + ring(n, size / 2, alpha, beta))
                # Rabenseifner's reduce-scatter + all-gather by recursive halving/doubling:
                # the same bytes, 2 log2(N) latencies instead of 2 (N - 1).
                rab = glob_b / (t_c + t_ar - t_alpha + 2 * math.log2(n) * alpha)
                # Overlap hides at most the early gradients' bandwidth time, within the backward (~2/3 compute).
                hidden = min(early * (t_ar - t_alpha), t_c * 2 / 3)
                ovl = glob_b / (step - hidden)
                label = f"{glob_b:,} global" if mode == "weak" else f"{b:g}"
                print(f"| {net} | {n} | {label} | {t_c * 1e3:.2f} ms | {t_ar * 1e3:.2f} ms ({t_alpha * 1e3:.2f}) | "
                      f"{rate:,.0f} | {speedup:.1f}× | {eff:.0%} | +{fp16 / rate - 1:.0%} | +{rab / rate - 1:.0%} | "
                      f"+{ovl / rate - 1:.1%} |")
