//! Helpers shared by the benchmark programs.

use std::time::{Duration, Instant};

/// The value after `name` on the command line, or `default`.
pub fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Per-call seconds: the median and the 10th and 90th percentiles.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
}

impl Timing {
    /// Prints `name median unit (p10 a, p90 b)` for a per-call time in µs.
    pub fn print_us(&self, name: &str) {
        println!("{name} {:.3} us (p10 {:.3}, p90 {:.3})", self.median * 1e6, self.p10 * 1e6, self.p90 * 1e6);
    }

    /// Prints `name median samples/s (p10 a, p90 b)` for calls of `batch`
    /// samples; the 10th percentile of the rate comes from the 90th of the time.
    pub fn print_rate(&self, name: &str, batch: usize) {
        let rate = |t: f64| batch as f64 / t;
        println!("{name} {:.1} samples/s (p10 {:.1}, p90 {:.1})", rate(self.median), rate(self.p90), rate(self.p10));
    }
}

/// Times each call of `f` for about `budget` after a warm-up of a tenth of
/// it (at least 5 timed calls), like the per-call medians of
/// `benches/compare.py`'s peers.
pub fn time_per_call(budget: Duration, mut f: impl FnMut()) -> Timing {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget / 10 || calls < 3 {
        f();
        calls += 1;
    }
    let expected = (calls as usize * 9).max(5);
    let mut times = Vec::with_capacity(expected + expected / 2);
    let start = Instant::now();
    while start.elapsed() < budget * 9 / 10 || times.len() < 5 {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Timing { median: at(0.5), p10: at(0.1), p90: at(0.9) }
}

/// The CPU's model name and the instruction-set path kiln's kernels take.
pub fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("# cpu: {cpu}");
    println!("# kiln_isa: {}", kiln::simd::isa());
    println!("# kiln_threads: {}", kiln::parallel::num_threads());
}
