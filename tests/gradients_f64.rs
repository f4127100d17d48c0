//! Every layer's backward pass, and the generated backward pass of whole
//! models, checked against an f64 reference: an f64 re-implementation of
//! the forward pass written from Keras's formulas (`tests/reference/`),
//! differentiated by central differences in f64
//! (`kiln::testing::compare_layer_with_reference` /
//! `compare_network_with_reference`).
//!
//! The tolerance (`REFERENCE_GRADIENT_RTOL = 1e-4` of each gradient
//! tensor's largest entry; its doc says why) is tight enough that a
//! backward pass 0.1 % off fails. Every check is followed by its mutation
//! tests: the same layer (or model) with one parameter's gradient, or the
//! input's, scaled by 1.001 must be reported — so a check that cannot fail
//! would show here. (The f32 finite-difference check these replace
//! accepted a 1.5 % error.)

mod reference;

use kiln::activations::Activation;
use kiln::initializers::Initializer;
use kiln::layers::{
    ActivationLayer, Concatenate, Ctx, Dense, DenseConfig, ElementWise, Embedding, Flatten, Gru, InputGrad, Layer,
    Lstm, Merge, MergeOp, RecurrentConfig, Reduce, ReduceOp, SimpleRnn, TimeDistributed,
};
use kiln::param::Param;
use kiln::testing::{compare_layer_with_reference, test_values, ReferenceReport};
use rand::SeedableRng;
use reference::{Act, ElementOp, Recurrent, Reduction};

/// The deliberate error of the mutation tests: 0.1 %.
const MUTATION: f32 = 1.001;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// Which gradient a [`Mutant`] scales.
#[derive(Clone, Copy, Debug)]
enum Target {
    Input,
    Param(usize),
}

/// `L` with one gradient of its backward pass scaled by [`MUTATION`].
#[derive(Clone)]
struct Mutant<L> {
    inner: L,
    target: Target,
}

fn nth_param<L: Layer>(layer: &mut L, k: usize, f: &mut dyn FnMut(&mut Param)) {
    let mut i = 0;
    layer.visit_params(&mut |p| {
        if i == k {
            f(p);
        }
        i += 1;
    });
}

impl<L: Layer> Layer for Mutant<L> {
    type In = L::In;
    type Cache = L::Cache;
    const INPUT_LEN: usize = L::INPUT_LEN;
    const OUTPUT_LEN: usize = L::OUTPUT_LEN;

    fn keras_type(&self) -> &'static str {
        self.inner.keras_type()
    }

    fn forward(&self, x: &[L::In], y: &mut [f32], batch: usize, cache: &mut L::Cache, ctx: &mut Ctx) {
        self.inner.forward(x, y, batch, cache, ctx);
    }

    fn backward(
        &mut self,
        x: &[L::In],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        cache: &mut L::Cache,
        ctx: &mut Ctx,
    ) {
        match (self.target, dx) {
            (Target::Input, Some(dx)) => {
                let mut own = vec![0.0; dx.grad.len()];
                let grad = Some(InputGrad { grad: &mut own, accumulate: false });
                self.inner.backward(x, y, dy, grad, batch, cache, ctx);
                own.iter_mut().for_each(|g| *g *= MUTATION);
                dx.store(&own);
            }
            (Target::Input, None) => self.inner.backward(x, y, dy, None, batch, cache, ctx),
            (Target::Param(k), dx) => {
                let mut before = Vec::new();
                nth_param(&mut self.inner, k, &mut |p| before = p.grad.to_vec());
                self.inner.backward(x, y, dy, dx, batch, cache, ctx);
                // Only this pass's contribution is scaled, so accumulation stays right.
                nth_param(&mut self.inner, k, &mut |p| {
                    p.grad.iter_mut().zip(&before).for_each(|(g, b)| *g = b + MUTATION * (*g - b));
                });
            }
        }
    }

    fn forward_one(&self, x: &[L::In], y: &mut [f32]) {
        self.inner.forward_one(x, y);
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.inner.visit_params(f);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        self.inner.params(f);
    }
}

/// Checks `layer` against `reference`, then checks that scaling any one of
/// its gradients (each parameter's, and the input's for float inputs) by
/// [`MUTATION`] is reported.
fn check<L: Layer + Clone>(
    what: &str,
    layer: &L,
    x: &[L::In],
    batch: usize,
    reference: impl Fn(&[Vec<f64>], &[f64], usize) -> Vec<f64> + Copy,
) -> ReferenceReport {
    let report =
        compare_layer_with_reference(&mut layer.clone(), x, batch, reference).unwrap_or_else(|e| panic!("{what}: {e}"));
    println!("{what}: forward {:.1e}, gradients {:?}", report.forward_error, report.gradient_errors);
    let mut targets: Vec<Target> = Vec::new();
    if std::any::TypeId::of::<L::In>() == std::any::TypeId::of::<f32>() {
        targets.push(Target::Input);
    }
    let mut count = 0;
    layer.params(&mut |_| count += 1);
    targets.extend((0..count).map(Target::Param));
    for target in targets {
        let mut mutant = Mutant { inner: layer.clone(), target };
        match compare_layer_with_reference(&mut mutant, x, batch, reference) {
            Ok(r) => panic!("{what}: a 0.1% error in the gradient of {target:?} passed the check ({r:?})"),
            Err(e) => {
                let expected = match target {
                    Target::Input => "input".to_string(),
                    Target::Param(k) => format!("parameter #{k}"),
                };
                assert!(e.contains(&expected), "{what}: mutation of {target:?} reported as: {e}");
            }
        }
    }
    report
}

/// kiln's activations with their reference twins.
const ACTIVATIONS: [(Activation, Act); 11] = [
    (Activation::Linear, Act::Linear),
    (Activation::Relu, Act::Relu),
    (Activation::Sigmoid, Act::Sigmoid),
    (Activation::Tanh, Act::Tanh),
    (Activation::Softmax, Act::Softmax),
    (Activation::Elu, Act::Elu),
    (Activation::Selu, Act::Selu),
    (Activation::Softplus, Act::Softplus),
    (Activation::Softsign, Act::Softsign),
    (Activation::HardSigmoid, Act::HardSigmoid),
    (Activation::Exponential, Act::Exponential),
];

fn dense<const I: usize, const O: usize>(activation: Activation, seed: u64) -> Dense<I, O> {
    let bias_initializer = Initializer::RandomUniform { min: -0.5, max: 0.5 };
    Dense::new(DenseConfig { activation, bias_initializer, ..DenseConfig::default() }, &mut rng(seed))
}

fn check_dense<const I: usize, const O: usize>(activation: Activation, act: Act, batch: usize) {
    let layer = dense::<I, O>(activation, 3);
    let x = test_values(batch * I, 11);
    let reference =
        move |p: &[Vec<f64>], x: &[f64], batch: usize| reference::dense(&p[0], Some(&p[1]), act, x, batch, I, O);
    check(&format!("Dense<{I}, {O}>({activation:?}), batch {batch}"), &layer, &x, batch, reference);
}

#[test]
fn dense_with_every_activation() {
    for (activation, act) in ACTIVATIONS {
        // Batch 1 takes the vector–matrix product forward, larger batches the GEMM.
        check_dense::<5, 4>(activation, act, 1);
        check_dense::<5, 4>(activation, act, 3);
    }
    // Large enough for the packed GEMM's edge tiles in every direction.
    check_dense::<19, 23>(Activation::Tanh, Act::Tanh, 8);
}

#[test]
fn dense_without_bias() {
    let config = DenseConfig { activation: Activation::Sigmoid, use_bias: false, ..DenseConfig::default() };
    let layer = Dense::<4, 3>::new(config, &mut rng(1));
    let reference =
        |p: &[Vec<f64>], x: &[f64], batch: usize| reference::dense(&p[0], None, Act::Sigmoid, x, batch, 4, 3);
    check("Dense(use_bias = false)", &layer, &test_values(8, 2), 2, reference);
}

#[test]
fn activation_layer_with_every_activation() {
    for (activation, act) in ACTIVATIONS {
        let layer = ActivationLayer::<6>::new(activation, 6);
        let reference = move |_: &[Vec<f64>], x: &[f64], _: usize| {
            let mut y = x.to_vec();
            reference::activate(act, &mut y, 6);
            y
        };
        check(&format!("Activation({activation:?})"), &layer, &test_values(12, 4), 2, reference);
    }
    // Softmax over a last axis shorter than the sample ([2, 3]).
    let layer = ActivationLayer::<6>::new(Activation::Softmax, 3);
    let reference = |_: &[Vec<f64>], x: &[f64], _: usize| {
        let mut y = x.to_vec();
        reference::activate(Act::Softmax, &mut y, 3);
        y
    };
    check("Activation(softmax) over rows of 3", &layer, &test_values(12, 5), 2, reference);
}

#[test]
fn embedding_with_repeated_ids() {
    let layer = Embedding::<5, 3, 4>::new(Initializer::RandomUniform { min: -1.0, max: 1.0 }, &mut rng(2));
    // Id 1 appears three times: its row must receive the sum of their gradients.
    let ids = [1u32, 4, 1, 0, 2, 1, 3, 4];
    let reference = |p: &[Vec<f64>], x: &[f64], _: usize| reference::embedding(&p[0], x, 3);
    check("Embedding(5, 3)", &layer, &ids, 2, reference);
}

#[test]
fn flatten() {
    check("Flatten", &Flatten::<12>, &test_values(24, 6), 2, |_: &[Vec<f64>], x: &[f64], _: usize| x.to_vec());
}

fn recurrent_config() -> RecurrentConfig {
    // Non-zero biases, so a bias that is dropped or misplaced shows.
    RecurrentConfig { bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 }, ..Default::default() }
}

/// The reference weights of a recurrent layer from the parameter list.
fn weights(p: &[Vec<f64>], d: usize, u: usize, t: usize, sequences: bool) -> Recurrent<'_> {
    Recurrent { kernel: &p[0], recurrent: &p[1], bias: &p[2], d, u, t, sequences }
}

#[test]
fn simple_rnn_both_ways() {
    for batch in [1, 3] {
        let x = test_values(batch * 5 * 3, 7);
        let layer = SimpleRnn::<3, 4, 5, false>::new(recurrent_config(), &mut rng(4));
        let r = |p: &[Vec<f64>], x: &[f64], b: usize| reference::simple_rnn(&weights(p, 3, 4, 5, false), x, b);
        check(&format!("SimpleRNN, last state, batch {batch}"), &layer, &x, batch, r);
        let layer = SimpleRnn::<3, 4, 5, true>::new(recurrent_config(), &mut rng(4));
        let r = |p: &[Vec<f64>], x: &[f64], b: usize| reference::simple_rnn(&weights(p, 3, 4, 5, true), x, b);
        check(&format!("SimpleRNN, return_sequences, batch {batch}"), &layer, &x, batch, r);
    }
}

#[test]
fn lstm_both_ways() {
    for batch in [1, 3] {
        let x = test_values(batch * 5 * 3, 8);
        let layer = Lstm::<3, 4, 5, false>::new(recurrent_config(), &mut rng(5));
        let r = |p: &[Vec<f64>], x: &[f64], b: usize| reference::lstm(&weights(p, 3, 4, 5, false), x, b);
        check(&format!("LSTM, last state, batch {batch}"), &layer, &x, batch, r);
        let layer = Lstm::<3, 4, 5, true>::new(recurrent_config(), &mut rng(5));
        let r = |p: &[Vec<f64>], x: &[f64], b: usize| reference::lstm(&weights(p, 3, 4, 5, true), x, b);
        check(&format!("LSTM, return_sequences, batch {batch}"), &layer, &x, batch, r);
    }
}

#[test]
fn gru_both_ways() {
    for batch in [1, 3] {
        let x = test_values(batch * 5 * 3, 9);
        let layer = Gru::<3, 4, 5, false>::new(recurrent_config(), &mut rng(6));
        let r = |p: &[Vec<f64>], x: &[f64], b: usize| reference::gru(&weights(p, 3, 4, 5, false), x, b);
        check(&format!("GRU, last state, batch {batch}"), &layer, &x, batch, r);
        let layer = Gru::<3, 4, 5, true>::new(recurrent_config(), &mut rng(6));
        let r = |p: &[Vec<f64>], x: &[f64], b: usize| reference::gru(&weights(p, 3, 4, 5, true), x, b);
        check(&format!("GRU, return_sequences, batch {batch}"), &layer, &x, batch, r);
    }
}

#[test]
fn reductions() {
    for (op, red) in
        [(ReduceOp::Sum, Reduction::Sum), (ReduceOp::Mean, Reduction::Mean), (ReduceOp::Max, Reduction::Max)]
    {
        let r = move |_: &[Vec<f64>], x: &[f64], b: usize| reference::reduce(red, x, b, 2, 3, 4);
        check(
            &format!("reduce {op:?} over the middle axis"),
            &Reduce::<24, 8>::new(op, 2, 3, 4),
            &test_values(48, 3),
            2,
            r,
        );
        let r = move |_: &[Vec<f64>], x: &[f64], b: usize| reference::reduce(red, x, b, 1, 3, 4);
        check(
            &format!("reduce {op:?} over the first axis"),
            &Reduce::<12, 4>::new(op, 1, 3, 4),
            &test_values(24, 4),
            2,
            r,
        );
        let r = move |_: &[Vec<f64>], x: &[f64], b: usize| reference::reduce(red, x, b, 3, 4, 1);
        check(
            &format!("reduce {op:?} over the last axis"),
            &Reduce::<12, 3>::new(op, 3, 4, 1),
            &test_values(24, 5),
            2,
            r,
        );
    }
}

#[test]
fn time_distributed_dense() {
    let config = DenseConfig {
        activation: Activation::Tanh,
        bias_initializer: Initializer::RandomUniform { min: -0.5, max: 0.5 },
        ..DenseConfig::default()
    };
    let layer = TimeDistributed::<_, 4>::new(Dense::<3, 2>::new(config, &mut rng(7)));
    // The same Dense on each of the batch·4 steps.
    let r = |p: &[Vec<f64>], x: &[f64], b: usize| reference::dense(&p[0], Some(&p[1]), Act::Tanh, x, b * 4, 3, 2);
    check("TimeDistributed(Dense(2, tanh))", &layer, &test_values(24, 8), 2, r);
}

/// A merge seen as a layer: each sample of its input is the merge's
/// inputs' samples side by side (`lens[i]` values each). With `mutate`,
/// the gradient of that one merge input is scaled by [`MUTATION`].
#[derive(Clone)]
struct MergeLayer<M, const IN: usize> {
    merge: M,
    lens: Vec<usize>,
    mutate: Option<usize>,
}

impl<M: Merge<Elem = f32>, const IN: usize> MergeLayer<M, IN> {
    fn split(&self, x: &[f32], batch: usize) -> Vec<Vec<f32>> {
        let mut offset = 0;
        let parts = self.lens.iter().map(|&len| {
            let part = (0..batch).flat_map(|s| x[s * IN + offset..][..len].to_vec()).collect();
            offset += len;
            part
        });
        parts.collect()
    }
}

impl<M: Merge<Elem = f32> + Clone, const IN: usize> Layer for MergeLayer<M, IN> {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = IN;
    const OUTPUT_LEN: usize = M::OUTPUT_LEN;

    fn keras_type(&self) -> &'static str {
        self.merge.keras_type()
    }

    fn forward(&self, x: &[f32], y: &mut [f32], batch: usize, _: &mut (), _: &mut Ctx) {
        let parts = self.split(x, batch);
        let xs: Vec<&[f32]> = parts.iter().map(|v| v.as_slice()).collect();
        self.merge.forward(&xs, y, batch);
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        batch: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        let Some(dx) = dx else { return };
        let parts = self.split(x, batch);
        let xs: Vec<&[f32]> = parts.iter().map(|v| v.as_slice()).collect();
        let mut grads: Vec<Vec<f32>> = parts.iter().map(|p| vec![f32::NAN; p.len()]).collect();
        {
            let mut dxs: Vec<Option<InputGrad<'_>>> =
                grads.iter_mut().map(|g| Some(InputGrad { grad: g, accumulate: false })).collect();
            self.merge.backward(&xs, y, dy, &mut dxs, batch);
        }
        if let Some(i) = self.mutate {
            grads[i].iter_mut().for_each(|g| *g *= MUTATION);
        }
        let mut full = vec![0.0; x.len()];
        let mut offset = 0;
        for (g, &len) in grads.iter().zip(&self.lens) {
            for s in 0..batch {
                full[s * IN + offset..][..len].copy_from_slice(&g[s * len..][..len]);
            }
            offset += len;
        }
        dx.store(&full);
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        self.forward(x, y, 1, &mut (), &mut Ctx::new(0));
    }
}

/// Checks a merge, then that a 0.1 % error in any one input's gradient is reported.
fn check_merge<M: Merge<Elem = f32> + Clone, const IN: usize>(
    what: &str,
    merge: M,
    lens: &[usize],
    reference: impl Fn(&[&[f64]], usize) -> Vec<f64> + Copy,
) {
    // Four samples, so each input attains the maximum (minimum) somewhere
    // and the mutation of every input's gradient changes something.
    let batch = 4;
    let layer = MergeLayer::<M, IN> { merge, lens: lens.to_vec(), mutate: None };
    let x = test_values(batch * IN, 12);
    let lens = lens.to_vec();
    let r = move |_: &[Vec<f64>], x: &[f64], b: usize| {
        let mut offset = 0;
        let parts: Vec<Vec<f64>> = lens
            .iter()
            .map(|&len| {
                let part = (0..b).flat_map(|s| x[s * IN + offset..][..len].to_vec()).collect();
                offset += len;
                part
            })
            .collect();
        let xs: Vec<&[f64]> = parts.iter().map(|v| v.as_slice()).collect();
        reference(&xs, b)
    };
    let report = compare_layer_with_reference(&mut layer.clone(), &x, batch, r.clone())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    println!("{what}: {report:?}");
    for i in 0..layer.lens.len() {
        let mut mutant = MergeLayer { mutate: Some(i), ..layer.clone() };
        assert!(
            compare_layer_with_reference(&mut mutant, &x, batch, r.clone()).is_err(),
            "{what}: a 0.1% error in input {i}'s gradient passed"
        );
    }
}

#[test]
fn merges() {
    for (op, eop) in [
        (MergeOp::Add, ElementOp::Add),
        (MergeOp::Multiply, ElementOp::Multiply),
        (MergeOp::Average, ElementOp::Average),
        (MergeOp::Maximum, ElementOp::Maximum),
        (MergeOp::Minimum, ElementOp::Minimum),
    ] {
        let r = move |xs: &[&[f64]], _: usize| reference::element_wise(eop, xs);
        check_merge::<_, 18>(&format!("{op:?} of three"), ElementWise::<6>::new(op), &[6, 6, 6], r);
    }
    let r = |xs: &[&[f64]], _: usize| reference::element_wise(ElementOp::Subtract, xs);
    check_merge::<_, 12>("Subtract", ElementWise::<6>::new(MergeOp::Subtract), &[6, 6], r);
    // [3, 2] and [3, 3] along the last axis → [3, 5].
    let r = |xs: &[&[f64]], b: usize| reference::concatenate(xs, &[2, 3], b * 3);
    check_merge::<_, 15>("Concatenate(axis = -1)", Concatenate::<f32, 15>::new(3, vec![2, 3]), &[6, 9], r);
    // [6] and [4] along the only axis.
    let r = |xs: &[&[f64]], b: usize| reference::concatenate(xs, &[6, 4], b);
    check_merge::<_, 10>("Concatenate of vectors", Concatenate::<f32, 10>::new(1, vec![6, 4]), &[6, 4], r);
}

// ---------------------------------------------------------------------------
// Whole models: the generated backward pass against an f64 re-implementation
// of the model's graph.
// ---------------------------------------------------------------------------

use kiln::network::{InputFlat, Network};
use kiln::sample::SampleSet;
use kiln::testing::compare_network_with_reference;

/// `N` with the gradient of parameter #`index` scaled by [`MUTATION`] after
/// the generated backward pass.
struct MutantNet<N> {
    inner: N,
    index: usize,
}

impl<N: Network> Network for MutantNet<N> {
    type Input = N::Input;
    type Output = N::Output;
    type Workspace = N::Workspace;

    fn output_names(&self) -> Vec<&'static str> {
        self.inner.output_names()
    }
    fn workspace(&self, capacity: usize) -> N::Workspace {
        self.inner.workspace(capacity)
    }
    fn capacity(workspace: &N::Workspace) -> usize {
        N::capacity(workspace)
    }
    fn forward(&self, ws: &mut N::Workspace, x: InputFlat<'_, Self>, batch: usize, training: bool) {
        self.inner.forward(ws, x, batch, training);
    }
    fn output_and_grad(ws: &mut N::Workspace, index: usize, batch: usize) -> (&[f32], &mut [f32]) {
        N::output_and_grad(ws, index, batch)
    }
    fn backward(&mut self, ws: &mut N::Workspace, x: InputFlat<'_, Self>, batch: usize) {
        self.inner.backward(ws, x, batch);
        let mut i = 0;
        let index = self.index;
        self.inner.visit_params(&mut |p| {
            if i == index {
                p.grad.iter_mut().for_each(|g| *g *= MUTATION);
            }
            i += 1;
        });
    }
    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.inner.visit_params(f);
    }
    fn params(&self, f: &mut dyn FnMut(&Param)) {
        self.inner.params(f);
    }
    fn summary(&self) -> kiln::summary::Summary {
        self.inner.summary()
    }
    fn try_predict_one(&self, x: &Self::Input) -> kiln::Result<Self::Output> {
        self.inner.try_predict_one(x)
    }
}

/// Checks `new(seed)` against `reference`, then that a 0.1 % error in the
/// gradient of any one of its parameters is reported.
fn check_model<N: Network>(
    what: &str,
    new: impl Fn() -> N,
    x: <N::Input as SampleSet>::Batch<'_>,
    reference: impl Fn(&[Vec<f64>]) -> Vec<Vec<f64>> + Copy,
) {
    let report = compare_network_with_reference(&mut new(), x, reference).unwrap_or_else(|e| panic!("{what}: {e}"));
    println!("{what}: forward {:.1e}, gradients {:?}", report.forward_error, report.gradient_errors);
    for index in 0..report.gradient_errors.len() {
        let mut mutant = MutantNet { inner: new(), index };
        match compare_network_with_reference(&mut mutant, x, reference) {
            Ok(_) => panic!("{what}: a 0.1% error in parameter #{index}'s gradient passed"),
            Err(e) => assert!(e.contains(&format!("parameter #{index}")), "{what}: mutation #{index} reported as {e}"),
        }
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| v as f64).collect()
}

fn vectors<const N: usize>(n: usize, seed: u64) -> Vec<[f32; N]> {
    test_values(n * N, seed).chunks_exact(N).map(|c| std::array::from_fn(|i| c[i])).collect()
}

kiln::model! {
    /// A multi-layer chain: Flatten, Dense, Activation, Dense with softmax.
    struct Chain {
        input x: [f32; 3, 4];
        let flat = Flatten()(x);
        let h = Dense(7, activation = tanh)(flat);
        let s = Activation(sigmoid)(h);
        let p = Dense(3, activation = softmax, bias_initializer = random_uniform)(s);
        output p;
    }
}

#[test]
fn multi_layer_chain() {
    let x: Vec<[[f32; 4]; 3]> =
        vectors::<12>(4, 5).iter().map(|v| std::array::from_fn(|i| std::array::from_fn(|j| v[i * 4 + j]))).collect();
    let x64 = f64s(kiln::sample::flatten(&x));
    let reference = |p: &[Vec<f64>]| {
        let mut h = reference::dense(&p[0], Some(&p[1]), Act::Tanh, &x64, 4, 12, 7);
        reference::activate(Act::Sigmoid, &mut h, 7);
        vec![reference::dense(&p[2], Some(&p[3]), Act::Softmax, &h, 4, 7, 3)]
    };
    check_model("Chain", || Chain::new(1), &x[..], reference);
}

kiln::model! {
    /// Every recurrent layer stacked, on embedded ids.
    struct RecurrentStack {
        input ids: [u32; 6];
        let embedded = Embedding(5, 3, embeddings_initializer = random_uniform)(ids);
        let lstm = LSTM(4, return_sequences = true, bias_initializer = random_uniform)(embedded);
        let gru = GRU(3, return_sequences = true, bias_initializer = random_uniform)(lstm);
        let rnn = SimpleRNN(2, bias_initializer = random_uniform)(gru);
        let probs = Dense(2, activation = softmax)(rnn);
        output probs;
    }
}

#[test]
fn multi_layer_recurrent_stack() {
    let ids: Vec<[u32; 6]> = vec![[0, 1, 2, 3, 4, 1], [4, 4, 3, 0, 2, 2], [1, 0, 0, 3, 2, 4]];
    let x64: Vec<f64> = ids.iter().flatten().map(|&i| i as f64).collect();
    let b = ids.len();
    let reference = |p: &[Vec<f64>]| {
        let e = reference::embedding(&p[0], &x64, 3);
        let rec = |k: usize, d: usize, u: usize, sequences: bool| Recurrent {
            kernel: &p[k],
            recurrent: &p[k + 1],
            bias: &p[k + 2],
            d,
            u,
            t: 6,
            sequences,
        };
        let l = reference::lstm(&rec(1, 3, 4, true), &e, b);
        let g = reference::gru(&rec(4, 4, 3, true), &l, b);
        let r = reference::simple_rnn(&rec(7, 3, 2, false), &g, b);
        vec![reference::dense(&p[10], Some(&p[11]), Act::Softmax, &r, b, 2, 2)]
    };
    check_model("Embedding → LSTM → GRU → SimpleRNN → Dense", || RecurrentStack::new(2), &ids[..], reference);
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

#[test]
fn shared_layer() {
    let x = vectors::<5>(3, 6);
    let x64 = f64s(kiln::sample::flatten(&x));
    let reference = |p: &[Vec<f64>]| {
        let a = reference::dense(&p[0], Some(&p[1]), Act::Tanh, &x64, 3, 5, 5);
        let b = reference::dense(&p[0], Some(&p[1]), Act::Tanh, &a, 3, 5, 5);
        vec![reference::dense(&p[2], Some(&p[3]), Act::Linear, &b, 3, 5, 2)]
    };
    check_model("shared Dense called twice", || Shared::new(2), &x[..], reference);
}

kiln::model! {
    /// Fan-out into every merge: each branch's gradient is summed back into `h`.
    struct Merges {
        input x: [f32; 6];
        let h = Dense(4, activation = tanh, bias_initializer = random_uniform)(x);
        let a = Dense(4, activation = sigmoid)(h);
        let b = Dense(4, bias_initializer = random_normal)(h);
        let sum = add([a, b, h]);
        let difference = subtract([a, b]);
        let product = multiply([a, b]);
        let mean = average([sum, difference]);
        let top = maximum([product, mean]);
        let bottom = minimum([product, mean]);
        let joined = concatenate([top, bottom, h]);
        let out = Dense(3, activation = softmax)(joined);
        output out;
    }
}

#[test]
fn fan_out_through_every_merge() {
    let x = vectors::<6>(3, 1);
    let x64 = f64s(kiln::sample::flatten(&x));
    let reference = |p: &[Vec<f64>]| {
        use reference::{element_wise as ew, ElementOp as Op};
        let h = reference::dense(&p[0], Some(&p[1]), Act::Tanh, &x64, 3, 6, 4);
        let a = reference::dense(&p[2], Some(&p[3]), Act::Sigmoid, &h, 3, 4, 4);
        let b = reference::dense(&p[4], Some(&p[5]), Act::Linear, &h, 3, 4, 4);
        let sum = ew(Op::Add, &[&a, &b, &h]);
        let difference = ew(Op::Subtract, &[&a, &b]);
        let product = ew(Op::Multiply, &[&a, &b]);
        let mean = ew(Op::Average, &[&sum, &difference]);
        let top = ew(Op::Maximum, &[&product, &mean]);
        let bottom = ew(Op::Minimum, &[&product, &mean]);
        let joined = reference::concatenate(&[&top, &bottom, &h], &[4, 4, 4], 3);
        vec![reference::dense(&p[6], Some(&p[7]), Act::Softmax, &joined, 3, 12, 3)]
    };
    check_model("fan-out through every merge", || Merges::new(5), &x[..], reference);
}

kiln::model! {
    /// Two inputs, two outputs, a shared layer over both inputs.
    struct TwoByTwo {
        input left: [f32; 5];
        input right: [f32; 5];
        let shared = Dense(3, activation = tanh, bias_initializer = random_uniform);
        let l = shared(left);
        let r = shared(right);
        let both = concatenate([l, r]);
        let main = Dense(2, activation = softmax, name = "main_output")(both);
        let aux = Dense(1, activation = sigmoid, name = "aux_output")(l);
        output main, aux;
    }
}

#[test]
fn two_inputs_two_outputs() {
    let (left, right) = (vectors::<5>(3, 2), vectors::<5>(3, 3));
    let (l64, r64) = (f64s(kiln::sample::flatten(&left)), f64s(kiln::sample::flatten(&right)));
    let reference = |p: &[Vec<f64>]| {
        let l = reference::dense(&p[0], Some(&p[1]), Act::Tanh, &l64, 3, 5, 3);
        let r = reference::dense(&p[0], Some(&p[1]), Act::Tanh, &r64, 3, 5, 3);
        let both = reference::concatenate(&[&l, &r], &[3, 3], 3);
        let main = reference::dense(&p[2], Some(&p[3]), Act::Softmax, &both, 3, 6, 2);
        let aux = reference::dense(&p[4], Some(&p[5]), Act::Sigmoid, &l, 3, 3, 1);
        vec![main, aux]
    };
    check_model("two inputs, two outputs", || TwoByTwo::new(6), (&left[..], &right[..]), reference);
}

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

/// `Inner`'s forward pass from its four parameters.
fn inner_reference(p: &[Vec<f64>], x: &[f64], rows: usize) -> Vec<f64> {
    let h = reference::dense(&p[0], Some(&p[1]), Act::Tanh, x, rows, 6, 4);
    reference::dense(&p[2], Some(&p[3]), Act::Softmax, &h, rows, 4, 3)
}

#[test]
fn nested_model_called_twice() {
    let x = vectors::<6>(3, 1);
    let x64 = f64s(kiln::sample::flatten(&x));
    let reference = |p: &[Vec<f64>]| {
        let direct = inner_reference(&p[0..4], &x64, 3);
        let transformed = reference::dense(&p[4], Some(&p[5]), Act::Tanh, &x64, 3, 6, 6);
        let again = inner_reference(&p[0..4], &transformed, 3);
        let both = reference::concatenate(&[&direct, &again], &[3, 3], 3);
        vec![reference::dense(&p[6], Some(&p[7]), Act::Linear, &both, 3, 6, 2)]
    };
    check_model("nested model called twice", || Outer::new(3), &x[..], reference);
}

kiln::model! {
    /// A model and a plain layer, each applied at every time step, then a mean over time.
    pub struct OverTime {
        input steps: [f32; 4, 6];
        let per_step: [4, 3] = custom(TimeDistributed::<Inner, 4>::new(Inner::new(2)))(steps);
        let projected = TimeDistributed(Dense(5, activation = tanh))(per_step);
        let pooled = reduce_mean(projected, axis = 1);
        output pooled;
    }
}

#[test]
fn time_distributed_model_and_layer_then_reduce_mean() {
    let x: Vec<[[f32; 6]; 4]> =
        vectors::<24>(2, 2).iter().map(|v| std::array::from_fn(|t| std::array::from_fn(|i| v[t * 6 + i]))).collect();
    let x64 = f64s(kiln::sample::flatten(&x));
    let reference = |p: &[Vec<f64>]| {
        let per_step = inner_reference(&p[0..4], &x64, 2 * 4);
        let projected = reference::dense(&p[4], Some(&p[5]), Act::Tanh, &per_step, 2 * 4, 3, 5);
        vec![reference::reduce(Reduction::Mean, &projected, 2, 1, 4, 5)]
    };
    check_model("TimeDistributed(model), TimeDistributed(Dense), reduce_mean", || OverTime::new(4), &x[..], reference);
}

kiln::model! {
    /// Every sequence layer in one graph, then a mean over time.
    struct AllRecurrent {
        input tokens: [u32; 6];
        let embedded = Embedding(5, 3, embeddings_initializer = random_normal)(tokens);
        let rnn = SimpleRNN(4, return_sequences = true, bias_initializer = random_uniform)(embedded);
        let gru = GRU(3, return_sequences = true, bias_initializer = random_uniform)(rnn);
        let lstm = LSTM(units = 4, return_sequences = true)(gru);
        let mean = reduce_mean(lstm, axis = 1);
        let out = Dense(2, activation = softmax)(mean);
        output out;
    }
}

#[test]
fn every_sequence_layer_then_reduce_mean() {
    let ids: Vec<[u32; 6]> = (0..3).map(|s| std::array::from_fn(|t| ((s * 7 + t * 3) % 5) as u32)).collect();
    let x64: Vec<f64> = ids.iter().flatten().map(|&i| i as f64).collect();
    let reference = |p: &[Vec<f64>]| {
        let rec = |k: usize, d: usize, u: usize| Recurrent {
            kernel: &p[k],
            recurrent: &p[k + 1],
            bias: &p[k + 2],
            d,
            u,
            t: 6,
            sequences: true,
        };
        let e = reference::embedding(&p[0], &x64, 3);
        let r = reference::simple_rnn(&rec(1, 3, 4), &e, 3);
        let g = reference::gru(&rec(4, 4, 3), &r, 3);
        let l = reference::lstm(&rec(7, 3, 4), &g, 3);
        let mean = reference::reduce(Reduction::Mean, &l, 3, 1, 6, 4);
        vec![reference::dense(&p[10], Some(&p[11]), Act::Softmax, &mean, 3, 4, 2)]
    };
    check_model(
        "Embedding → SimpleRNN → GRU → LSTM → reduce_mean → Dense",
        || AllRecurrent::new(3),
        &ids[..],
        reference,
    );
}

kiln::model! {
    /// A recurrent layer called twice (shared weights), then a max over time.
    struct SharedGru {
        input x: [f32; 5, 3];
        let gru = GRU(3, return_sequences = true, bias_initializer = random_uniform);
        let a = gru(x);
        let b = gru(a);
        let pooled = reduce_max(b, axis = -2);
        output pooled;
    }
}

#[test]
fn shared_recurrent_layer_then_reduce_max() {
    let x: Vec<[[f32; 3]; 5]> =
        vectors::<15>(2, 9).iter().map(|v| std::array::from_fn(|t| std::array::from_fn(|d| v[t * 3 + d]))).collect();
    let x64 = f64s(kiln::sample::flatten(&x));
    let reference = |p: &[Vec<f64>]| {
        let w = Recurrent { kernel: &p[0], recurrent: &p[1], bias: &p[2], d: 3, u: 3, t: 5, sequences: true };
        let a = reference::gru(&w, &x64, 2);
        let b = reference::gru(&w, &a, 2);
        vec![reference::reduce(Reduction::Max, &b, 2, 1, 5, 3)]
    };
    check_model("shared GRU called twice, reduce_max over time", || SharedGru::new(4), &x[..], reference);
}
