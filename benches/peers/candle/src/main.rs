//! candle's side of `benches/compare.py`: the same workloads as kiln's
//! benches (benches/mlp.rs, text.rs, cnn.rs) and the PyTorch peer, timed the
//! same way (per-call median with the 10th and 90th percentiles after a
//! warm-up of a tenth of the budget), printed in kiln's line format
//! `name median unit (p10 a, p90 b)` so compare.py parses both alike.
//!
//! ```text
//! RAYON_NUM_THREADS=2 CANDLE_NUM_THREADS=2 kiln-peer-candle --seconds 3 --batch 128 --cnn-batch 64 --rows W1 W2 W3 W4
//! ```
//!
//! Threads: candle's CPU matmul (the `gemm` crate) and its rayon pool read
//! `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS`; compare.py sets both.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::rnn::{LSTMConfig, RNN};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Per-call seconds: median, 10th and 90th percentiles.
struct Timing {
    median: f64,
    p10: f64,
    p90: f64,
}

impl Timing {
    fn print_us(&self, name: &str) {
        println!("{name} {:.3} us (p10 {:.3}, p90 {:.3})", self.median * 1e6, self.p10 * 1e6, self.p90 * 1e6);
    }

    fn print_rate(&self, name: &str, batch: usize) {
        let rate = |t: f64| batch as f64 / t;
        println!("{name} {:.1} samples/s (p10 {:.1}, p90 {:.1})", rate(self.median), rate(self.p90), rate(self.p10));
    }
}

/// Times each call of `f` for about `budget`, after a tenth of it as warm-up.
fn time_per_call(budget: Duration, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < budget / 10 || calls < 3 {
        f()?;
        calls += 1;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget * 9 / 10 || times.len() < 5 {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(Timing { median: at(0.5), p10: at(0.1), p90: at(0.9) })
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn wants(row: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--rows") {
        None => true,
        Some(i) => args[i + 1..].iter().take_while(|a| !a.starts_with("--")).any(|a| a == row),
    }
}

/// Adam as PyTorch's and Keras's (no weight decay; Keras's epsilon).
fn adam(varmap: &VarMap, lr: f64) -> Result<AdamW> {
    AdamW::new(varmap.all_vars(), ParamsAdamW { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: 0.0 })
}

struct Mlp {
    l1: candle_nn::Linear,
    l2: candle_nn::Linear,
    l3: candle_nn::Linear,
}

impl Mlp {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Mlp {
            l1: candle_nn::linear(784, 300, vb.pp("l1"))?,
            l2: candle_nn::linear(300, 100, vb.pp("l2"))?,
            l3: candle_nn::linear(100, 10, vb.pp("l3"))?,
        })
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.l3.forward(&self.l2.forward(&self.l1.forward(x)?.relu()?)?.relu()?)
    }
}

/// W1 (MLP training) and W3's MLP rows (one sample, batch 1024).
fn mlp(dev: &Device, budget: Duration, batch: usize) -> Result<()> {
    let varmap = VarMap::new();
    let model = Mlp::new(VarBuilder::from_varmap(&varmap, DType::F32, dev))?;
    if wants("W1") {
        let mut opt = adam(&varmap, 1e-3)?;
        let xs: Vec<Tensor> = (0..8).map(|_| Tensor::rand(-0.5f32, 0.5, (batch, 784), dev)).collect::<Result<_>>()?;
        let ys: Vec<Tensor> = (0..8)
            .map(|b| Tensor::from_vec((0..batch).map(|i| ((i * 7 + b) % 10) as u32).collect(), batch, dev))
            .collect::<Result<_>>()?;
        let mut i = 0;
        let step = time_per_call(budget, || {
            i = (i + 1) % 8;
            let loss = candle_nn::loss::cross_entropy(&model.logits(&xs[i])?, &ys[i])?;
            opt.backward_step(&loss)
        })?;
        step.print_rate("candle_train_samples_per_s", batch);
    }
    if wants("W3") {
        let infer = |x: &Tensor| candle_nn::ops::softmax(&model.logits(x)?, D::Minus1);
        let one = Tensor::rand(0f32, 1.0, (1, 784), dev)?;
        let big = Tensor::rand(0f32, 1.0, (1024, 784), dev)?;
        time_per_call(budget, || infer(&one).map(|p| drop(black_box(p))))?.print_us("candle_predict_one_latency");
        time_per_call(budget, || infer(&big).map(|p| drop(black_box(p))))?
            .print_rate("candle_predict_b1024_samples_per_s", 1024);
    }
    Ok(())
}

struct Text {
    embedding: candle_nn::Embedding,
    lstm: candle_nn::LSTM,
    dense: candle_nn::Linear,
}

impl Text {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Text {
            embedding: candle_nn::embedding(4, 64, vb.pp("embedding"))?,
            lstm: candle_nn::lstm(64, 64, LSTMConfig::default(), vb.pp("lstm"))?,
            dense: candle_nn::linear(64, 1, vb.pp("dense"))?,
        })
    }

    /// The logit of the last state, `[batch, 1]`.
    fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        let states = self.lstm.seq(&self.embedding.forward(ids)?)?;
        self.dense.forward(states.last().expect("16 steps").h())
    }
}

/// W2 (text classifier training at batch 4 and 64) and W3's LSTM latency.
fn text(dev: &Device, budget: Duration) -> Result<()> {
    if wants("W2") {
        for batch in [4usize, 64] {
            let varmap = VarMap::new();
            let model = Text::new(VarBuilder::from_varmap(&varmap, DType::F32, dev))?;
            let mut opt = adam(&varmap, 0.05)?;
            let xs: Vec<Tensor> = (0..8)
                .map(|b| {
                    let ids = (0..batch * 16).map(|i| ((i * 5 + i / 7 + b) % 4) as u32).collect();
                    Tensor::from_vec(ids, (batch, 16), dev)
                })
                .collect::<Result<_>>()?;
            let ys: Vec<Tensor> = (0..8)
                .map(|b| Tensor::from_vec((0..batch).map(|i| ((i + b) % 2) as f32).collect(), (batch, 1), dev))
                .collect::<Result<_>>()?;
            let mut i = 0;
            let step = time_per_call(budget, || {
                i = (i + 1) % 8;
                let loss = candle_nn::loss::binary_cross_entropy_with_logit(&model.logits(&xs[i])?, &ys[i])?;
                opt.backward_step(&loss)
            })?;
            step.print_rate(&format!("candle_text_train_b{batch}_samples_per_s"), batch);
        }
    }
    if wants("W3") {
        let varmap = VarMap::new();
        let model = Text::new(VarBuilder::from_varmap(&varmap, DType::F32, dev))?;
        let one = Tensor::from_vec((0..16).map(|i| (i % 4) as u32).collect(), (1, 16), dev)?;
        time_per_call(budget, || candle_nn::ops::sigmoid(&model.logits(&one)?).map(|p| drop(black_box(p))))?
            .print_us("candle_text_predict_one_latency");
    }
    Ok(())
}

struct Cnn {
    c1: candle_nn::Conv2d,
    c2: candle_nn::Conv2d,
    dense: candle_nn::Linear,
}

impl Cnn {
    fn new(vb: VarBuilder) -> Result<Self> {
        let cfg = candle_nn::Conv2dConfig::default();
        Ok(Cnn {
            c1: candle_nn::conv2d(1, 32, 3, cfg, vb.pp("c1"))?,
            c2: candle_nn::conv2d(32, 64, 3, cfg, vb.pp("c2"))?,
            dense: candle_nn::linear(1600, 10, vb.pp("dense"))?,
        })
    }

    /// NCHW input `[batch, 1, 28, 28]` (candle's layout, as PyTorch's).
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.c1.forward(x)?.relu()?.max_pool2d(2)?;
        let x = self.c2.forward(&x)?.relu()?.max_pool2d(2)?;
        self.dense.forward(&x.flatten_from(1)?)
    }
}

/// W4: CNN training and its one-sample latency.
fn cnn(dev: &Device, budget: Duration, batch: usize) -> Result<()> {
    let varmap = VarMap::new();
    let model = Cnn::new(VarBuilder::from_varmap(&varmap, DType::F32, dev))?;
    let mut opt = adam(&varmap, 1e-3)?;
    let xs: Vec<Tensor> = (0..8).map(|_| Tensor::rand(0f32, 1.0, (batch, 1, 28, 28), dev)).collect::<Result<_>>()?;
    let ys: Vec<Tensor> = (0..8)
        .map(|b| Tensor::from_vec((0..batch).map(|i| ((i * 3 + b) % 10) as u32).collect(), batch, dev))
        .collect::<Result<_>>()?;
    let mut i = 0;
    let step = time_per_call(budget, || {
        i = (i + 1) % 8;
        let loss = candle_nn::loss::cross_entropy(&model.logits(&xs[i])?, &ys[i])?;
        opt.backward_step(&loss)
    })?;
    step.print_rate("candle_cnn_train_samples_per_s", batch);
    let one = Tensor::rand(0f32, 1.0, (1, 1, 28, 28), dev)?;
    time_per_call(budget, || candle_nn::ops::softmax(&model.logits(&one)?, D::Minus1).map(|p| drop(black_box(p))))?
        .print_us("candle_cnn_predict_one_latency");
    Ok(())
}

fn main() -> Result<()> {
    let dev = Device::Cpu;
    let budget = Duration::from_secs_f64(arg("--seconds", 3.0));
    println!("# candle_threads: {}", candle_core::utils::get_num_threads());
    println!("# candle_avx: {}", candle_core::utils::with_avx());
    if wants("W1") || wants("W3") {
        mlp(&dev, budget, arg("--batch", 128.0) as usize)?;
    }
    if wants("W2") || wants("W3") {
        text(&dev, budget)?;
    }
    if wants("W4") {
        cnn(&dev, budget, arg("--cnn-batch", 64.0) as usize)?;
    }
    Ok(())
}
