//! Models as layers: a generated model inside another (also called twice,
//! sharing weights), inside `TimeDistributed`, and `TimeDistributed` of a
//! plain layer — generated backward passes checked by finite differences.

#[path = "../examples/models_as_layers.rs"]
mod models_as_layers;

use kiln::layers::TimeDistributed;
use kiln::testing::{check_network_gradients, test_values};

kiln::model! {
    #[derive(Clone)]
    pub struct Inner {
        input x: [f32; 6];
        let h = Dense(4, activation = tanh, bias_initializer = random_uniform)(x);
        let p = Dense(3, activation = softmax)(h);
        output p;
    }
}

kiln::model! {
    /// The inner model called on two tensors (one shared instance).
    pub struct Outer {
        input x: [f32; 6];
        let inner: [3] = custom(Inner::new(1));
        let direct = inner(x);
        let transformed = Dense(6, activation = tanh)(x);
        let again = inner(transformed);
        let both = concatenate([direct, again]);
        let out = Dense(2)(both);
        output out;
    }
}

kiln::model! {
    /// A model and a plain layer, each applied at every time step.
    pub struct OverTime {
        input steps: [f32; 4, 6];
        let per_step: [4, 3] = custom(TimeDistributed::<Inner, 4>::new(Inner::new(2)))(steps);
        let projected = TimeDistributed(Dense(5, activation = tanh))(per_step);
        let pooled = reduce_mean(projected, axis = 1);
        output pooled;
    }
}

fn samples<const T: usize, const N: usize>(n: usize, seed: u64) -> Vec<[[f32; N]; T]> {
    test_values(n * T * N, seed)
        .chunks_exact(T * N)
        .map(|c| std::array::from_fn(|t| std::array::from_fn(|i| c[t * N + i])))
        .collect()
}

#[test]
fn a_model_inside_a_model_has_correct_gradients() {
    let x: Vec<[f32; 6]> = samples::<1, 6>(3, 1).into_iter().map(|s| s[0]).collect();
    check_network_gradients(&mut Outer::new(3), &x[..], 30);
}

#[test]
fn time_distributed_model_and_layer_have_correct_gradients_and_shapes() {
    let x = samples::<4, 6>(2, 2);
    let mut model = OverTime::new(4);
    check_network_gradients(&mut model, &x[..], 30);
    let s = model.summary();
    let rows: Vec<(&str, &str, usize)> =
        s.rows.iter().map(|r| (r.kind.as_str(), r.output_shape.as_str(), r.trainable)).collect();
    assert_eq!(
        rows,
        [
            ("InputLayer", "(None, 4, 6)", 0),
            ("TimeDistributed", "(None, 4, 3)", 28 + 15),
            ("TimeDistributed", "(None, 4, 5)", 20),
            ("Lambda", "(None, 5)", 0),
        ]
    );
    // Each step's output is the inner model's output for that step.
    let out = TimeDistributed::<Inner, 4>::new(Inner::new(2));
    let inner = &out.layer;
    let per_step = inner.predict_one(&x[0][1]);
    let mut all = [0.0f32; 12];
    kiln::layers::Layer::forward_one(&out, x[0].as_flattened(), &mut all);
    assert_eq!(&all[3..6], &per_step[..]);
}

#[test]
fn the_tutorial_models_have_keras_shapes() {
    let s = models_as_layers::Sequences::new(0).summary();
    assert_eq!(s.rows[1].output_shape, "(None, 20, 10)");
    assert_eq!(s.total_params(), 55_050);
    let r = models_as_layers::Reused::new(0).summary();
    assert_eq!((r.rows[1].kind.as_str(), r.rows[1].trainable), ("Functional", 55_050));
}

#[test]
fn the_inner_models_weights_are_shared_with_its_value() {
    let inner = Inner::new(7);
    let outer = Outer { inner: inner.clone(), ..Outer::new(0) };
    let x = [0.1, -0.2, 0.3, 0.0, 0.5, -0.4];
    // The nested copy computes exactly what the standalone model computes.
    let mut via_layer = [0.0f32; 3];
    kiln::layers::Layer::forward_one(&outer.inner, &x, &mut via_layer);
    assert_eq!(via_layer, inner.predict_one(&x));
}
