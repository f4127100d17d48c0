//! kiln's SimpleRNN, LSTM and GRU against PyTorch with the same weights
//! (Keras's layout mapped onto `nn.RNN` / `nn.LSTM` / `nn.GRU`; see
//! `tests/fixtures/recurrent.py`, which wrote the fixtures in float64):
//! outputs and gradients with respect to the input and every weight.

use kiln::layers::{Ctx, Gru, InputGrad, Layer, Lstm, RecurrentCache, RecurrentConfig, SimpleRnn};
use rand::SeedableRng;
use std::collections::HashMap;

const B: usize = 2;

fn fixture(kind: &str) -> HashMap<String, Vec<f32>> {
    let path = format!("{}/tests/fixtures/recurrent_{kind}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut fields = l.split_whitespace();
            let name = fields.next().unwrap().to_string();
            (name, fields.map(|v| v.parse::<f64>().unwrap() as f32).collect())
        })
        .collect()
}

fn assert_close(what: &str, got: &[f32], expected: &[f32]) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "{what}[{i}]: kiln {g} vs PyTorch {e}");
    }
}

fn check<L: Layer<In = f32, Cache = RecurrentCache>>(kind: &str, mut layer: L) {
    let f = fixture(kind);
    let names = ["kernel", "recurrent_kernel", "bias"];
    let mut i = 0;
    layer.visit_params(&mut |p| {
        p.value.copy_from_slice(&f[names[i]]);
        p.grad.fill(0.0);
        i += 1;
    });
    let (x, expected) = (&f["x"], &f["output"]);
    let mut y = vec![0.0; expected.len()];
    let (mut cache, mut ctx) = (RecurrentCache::default(), Ctx::new(0));
    layer.forward(x, &mut y, B, &mut cache, &mut ctx);
    assert_close(&format!("{kind} output"), &y, expected);

    let mut dy: Vec<f32> = (0..y.len()).map(|i| (1.0 + 0.37 * i as f64).sin() as f32).collect();
    let mut dx = vec![0.0; x.len()];
    let grad = InputGrad { grad: &mut dx, accumulate: false };
    layer.backward(x, &y, &mut dy, Some(grad), B, &mut cache, &mut ctx);
    assert_close(&format!("{kind} ∂x"), &dx, &f["grad_x"]);
    let mut i = 0;
    layer.params(&mut |p| {
        assert_close(&format!("{kind} ∂{}", names[i]), &p.grad, &f[&format!("grad_{}", names[i])]);
        i += 1;
    });
}

fn rng() -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(0)
}

#[test]
fn lstm_matches_pytorch() {
    check("lstm", Lstm::<3, 4, 5, true>::new(RecurrentConfig::default(), &mut rng()));
}

#[test]
fn gru_matches_pytorch() {
    check("gru", Gru::<3, 4, 5, true>::new(RecurrentConfig::default(), &mut rng()));
}

#[test]
fn simple_rnn_matches_pytorch() {
    check("simple_rnn", SimpleRnn::<3, 4, 5, true>::new(RecurrentConfig::default(), &mut rng()));
}
