//! f32 against int8 (`kiln::quant`) inference, in the same run: the digits
//! MLP (64-64-10) and the W3 MLP (784-300-100-10), batch-1024 throughput
//! and one-sample latency.
//!
//! ```text
//! cargo bench --bench int8 -- [--rounds 5] [--seconds 1]
//! ```
//!
//! Each round measures f32 then int8 (per-call medians over `--seconds`);
//! the figures printed are the medians over rounds, with the ratio
//! int8 / f32 of each round's medians. Both sides are the user-facing
//! calls: `Model::predict` / `predict_one` against the `model!`-generated
//! `<Name>Int8`'s `predict` / `predict_one` (made by `Name::quantize`);
//! both return a fresh `Vec` of outputs per batch call.

use kiln::prelude::*;
use kiln::quant::QPath;
use std::hint::black_box;
use std::time::Duration;

mod common;
use common::{arg, print_machine, time_per_call};

kiln::model! {
    struct Digits {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

kiln::model! {
    struct Mlp {
        input image: [f32; 784];
        let h1 = Dense(300, activation = relu)(image);
        let h2 = Dense(100, activation = relu)(h1);
        let probs = Dense(10, activation = softmax)(h2);
        output probs;
    }
}

const BIG: usize = 1024;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    name: &'static str,
    f32_rate: Vec<f64>,
    int8_rate: Vec<f64>,
    f32_us: Vec<f64>,
    int8_us: Vec<f64>,
}

/// The four calls of one model, f32 and int8: a batch of `BIG` samples,
/// and the one sample at an index.
struct Calls<'a> {
    f32_batch: &'a mut dyn FnMut(),
    int8_batch: &'a mut dyn FnMut(),
    f32_one: &'a mut dyn FnMut(usize),
    int8_one: &'a mut dyn FnMut(usize),
}

impl Row {
    /// `rounds` rounds of the four measurements, each printed as it ends.
    fn measure(name: &'static str, key: &'static str, rounds: usize, budget: Duration, calls: Calls) -> Row {
        let Calls { f32_batch, int8_batch, f32_one, int8_one } = calls;
        let mut row = Row { name, f32_rate: vec![], int8_rate: vec![], f32_us: vec![], int8_us: vec![] };
        let mut i = 0;
        let mut one = |call: &mut dyn FnMut(usize)| {
            time_per_call(budget, || {
                i = (i + 1) % BIG;
                call(i);
            })
        };
        for _ in 0..rounds {
            let t = time_per_call(budget, &mut *f32_batch);
            t.print_rate(&format!("{key}_f32_b1024"), BIG);
            row.f32_rate.push(BIG as f64 / t.median);
            let t = time_per_call(budget, &mut *int8_batch);
            t.print_rate(&format!("{key}_int8_b1024"), BIG);
            row.int8_rate.push(BIG as f64 / t.median);
            let t = one(&mut *f32_one);
            t.print_us(&format!("{key}_f32_one"));
            row.f32_us.push(t.median * 1e6);
            let t = one(&mut *int8_one);
            t.print_us(&format!("{key}_int8_one"));
            row.int8_us.push(t.median * 1e6);
        }
        row
    }

    fn print(&self) {
        let ratios: Vec<f64> = self.int8_rate.iter().zip(&self.f32_rate).map(|(a, b)| a / b).collect();
        let lat: Vec<f64> = self.f32_us.iter().zip(&self.int8_us).map(|(a, b)| a / b).collect();
        println!(
            "# {} b1024: f32 {:.0} samples/s, int8 {:.0} samples/s, int8/f32 {:.2}x (rounds {:?})",
            self.name,
            median(self.f32_rate.clone()),
            median(self.int8_rate.clone()),
            median(ratios.clone()),
            ratios.iter().map(|r| (r * 100.0).round() / 100.0).collect::<Vec<_>>()
        );
        println!(
            "# {} b1: f32 {:.2} us, int8 {:.2} us, f32/int8 {:.2}x",
            self.name,
            median(self.f32_us.clone()),
            median(self.int8_us.clone()),
            median(lat)
        );
    }
}

fn main() {
    print_machine();
    println!("# int8 path: {}", QPath::current());
    let rounds = arg("--rounds", 5.0) as usize;
    let budget = Duration::from_secs_f64(arg("--seconds", 1.0));

    // Digits MLP.
    let xd: Vec<[f32; 64]> =
        (0..BIG).map(|s| std::array::from_fn(|i| (((s * 37 + i * 11) % 255) as f32 / 255.0 - 0.3) * 3.0)).collect();
    let mut digits = Digits::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
    let qd = digits.network().quantize(&xd[..256]).unwrap();
    // `predict` borrows the model mutably: one-sample calls use a second
    // instance with the same seed, hence the same weights.
    let net = Digits::new(0);
    let calls = Calls {
        f32_batch: &mut || {
            black_box(digits.predict(black_box(&xd[..]), BIG).unwrap());
        },
        int8_batch: &mut || {
            black_box(qd.predict(black_box(&xd[..]), BIG).unwrap());
        },
        f32_one: &mut |i| {
            black_box(net.predict_one(black_box(&xd[i])));
        },
        int8_one: &mut |i| {
            black_box(qd.predict_one(black_box(&xd[i])));
        },
    };
    Row::measure("digits 64-64-10", "digits", rounds, budget, calls).print();
    // The softmax over 1024 × 10 values: the same f32 code in both rows above.
    let logits: Vec<f32> = (0..BIG * 10).map(|i| ((i * 7) % 23) as f32 * 0.3 - 3.0).collect();
    let mut buf = logits.clone();
    let t = time_per_call(budget, || {
        buf.copy_from_slice(&logits);
        kiln::activations::Activation::Softmax.forward_in_place(black_box(&mut buf), 10);
    });
    t.print_us("digits_softmax_b1024 (shared by f32 and int8)");

    // W3 MLP.
    let xm: Vec<[f32; 784]> =
        (0..BIG).map(|s| std::array::from_fn(|i| ((s * 37 + i * 11) % 255) as f32 / 255.0 - 0.5)).collect();
    let mut mlp = Mlp::new(0).compile(Adam::default(), SparseCategoricalCrossentropy, &[]);
    let qm = mlp.network().quantize(&xm[..256]).unwrap();
    let net = Mlp::new(0);
    let calls = Calls {
        f32_batch: &mut || {
            black_box(mlp.predict(black_box(&xm[..]), BIG).unwrap());
        },
        int8_batch: &mut || {
            black_box(qm.predict(black_box(&xm[..]), BIG).unwrap());
        },
        f32_one: &mut |i| {
            black_box(net.predict_one(black_box(&xm[i])));
        },
        int8_one: &mut |i| {
            black_box(qm.predict_one(black_box(&xm[i])));
        },
    };
    Row::measure("mlp 784-300-100-10", "mlp", rounds, budget, calls).print();
}
