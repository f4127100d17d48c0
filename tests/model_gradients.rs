//! Finite-difference checks of backward passes that `model!` generates.

use kiln::testing::{check_network_gradients, test_values};

kiln::model! {
    /// A chain through every layer kind of the foundation.
    struct Chain {
        input x: [f32; 3, 4];
        let flat = Flatten()(x);
        let h = Dense(7, activation = tanh)(flat);
        let s = Activation(sigmoid)(h);
        let p = Dense(3, activation = softmax, bias_initializer = random_uniform)(s);
        output p;
    }
}

kiln::model! {
    /// One layer called twice: its gradient is the sum over both calls.
    struct Shared {
        input x: [f32; 5];
        let shared = Dense(5, activation = tanh, bias_initializer = random_normal);
        let a = shared(x);
        let b = shared(a);
        let out = Dense(2)(b);
        output out;
    }
}

fn samples<const N: usize, const M: usize>(batch: usize) -> Vec<[[f32; M]; N]> {
    let v = test_values(batch * N * M, 5);
    v.chunks_exact(N * M).map(|c| std::array::from_fn(|i| std::array::from_fn(|j| c[i * M + j]))).collect()
}

#[test]
fn chain_of_flatten_dense_activation_softmax() {
    let x = samples::<3, 4>(4);
    check_network_gradients(&mut Chain::new(1), &x, 40);
}

#[test]
fn shared_layer_accumulates_gradients_over_its_calls() {
    let x: Vec<[f32; 5]> = samples::<1, 5>(3).into_iter().map(|s| s[0]).collect();
    let mut model = Shared::new(2);
    check_network_gradients(&mut model, &x, 40);
    // The summary lists both calls of the shared layer.
    let summary = model.summary();
    let shared = summary.rows.iter().find(|r| r.name == "shared").unwrap();
    assert_eq!(shared.connected_to, ["x[0][0]", "shared[0][0]"]);
    assert_eq!(shared.trainable, 30);
    assert!(!summary.sequential_like);
}

#[test]
fn batched_forward_matches_predict_one() {
    let x = samples::<3, 4>(5);
    let model = Chain::new(3);
    use kiln::network::Network;
    let mut ws = model.workspace(5);
    model.forward(&mut ws, kiln::sample::flatten(&x), 5, false);
    let (batched, _) = Chain::output_and_grad(&mut ws, 0, 5);
    for (i, sample) in x.iter().enumerate() {
        let one = model.predict_one(sample);
        for (a, b) in one.iter().zip(&batched[i * 3..]) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}

#[test]
fn same_seed_gives_same_weights() {
    use kiln::network::Network;
    let collect = |m: &Chain| {
        let mut v = Vec::new();
        m.params(&mut |p| v.extend_from_slice(&p.value));
        v
    };
    assert_eq!(collect(&Chain::new(9)), collect(&Chain::new(9)));
    assert_ne!(collect(&Chain::new(9)), collect(&Chain::new(10)));
}
