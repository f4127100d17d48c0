//! `Embedding`: token ids `[T]` → vectors `[T, D]`, row `id` of a `V × D`
//! table. Keras's default initializer is uniform(−0.05, 0.05).

use super::{Ctx, InputGrad, Layer};
use crate::initializers::Initializer;
use crate::param::Param;
use rand::Rng;

/// Keras's `Embedding(input_dim = V, output_dim = D)` over `T` ids per sample.
///
/// Ids must be below `V`; models check their inputs before running (see
/// [`Layer::check_ids`]), so `fit`, `evaluate` and `predict` report an
/// out-of-range id as [`crate::Error::IdOutOfRange`].
///
/// ```
/// use kiln::layers::{Embedding, Layer};
/// use kiln::initializers::Initializer;
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut e = Embedding::<3, 2, 2>::new(Initializer::Zeros, &mut rng);
/// e.embeddings.value.copy_from_slice(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
/// let mut y = [0.0; 4];
/// e.forward_one(&[2, 0], &mut y);
/// assert_eq!(y, [4.0, 5.0, 0.0, 1.0]);
/// ```
#[derive(Clone, Debug)]
pub struct Embedding<const V: usize, const D: usize, const T: usize> {
    /// `[V, D]`.
    pub embeddings: Param,
}

impl<const V: usize, const D: usize, const T: usize> Embedding<V, D, T> {
    /// A table initialized by `init` (Keras's `embeddings_initializer`,
    /// by default `random_uniform`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming `embeddings_initializer`
    /// when `init`'s arguments are invalid ([`Initializer::check`]: an
    /// empty uniform range, a non-finite constant, …) or cannot fill the weight's dimensions
    /// (orthogonal needs 2 or more, identity exactly 2); nothing is drawn then.
    pub fn try_new(init: Initializer, rng: &mut impl Rng) -> crate::Result<Self> {
        init.check_as("embeddings_initializer", &[V, D])?;
        let mut embeddings = Param::zeros("embeddings", &[V, D]);
        init.fill(&mut embeddings.value, &[V, D], rng);
        Ok(Embedding { embeddings })
    }

    /// [`Embedding::try_new`] for an `init` known to be valid.
    ///
    /// # Panics
    /// When [`Embedding::try_new`] returns an error, with its message.
    pub fn new(init: Initializer, rng: &mut impl Rng) -> Self {
        Self::try_new(init, rng).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl<const V: usize, const D: usize, const T: usize> Layer for Embedding<V, D, T> {
    type In = u32;
    type Cache = ();
    const INPUT_LEN: usize = T;
    const OUTPUT_LEN: usize = T * D;

    fn keras_type(&self) -> &'static str {
        "Embedding"
    }

    fn check_ids(&self, ids: &[u32]) -> crate::Result<()> {
        match ids.iter().position(|&id| id as usize >= V) {
            Some(i) => Err(crate::Error::IdOutOfRange { id: ids[i], sample: i / T.max(1), input_dim: V }),
            None => Ok(()),
        }
    }

    fn forward(&self, x: &[u32], y: &mut [f32], _: usize, _: &mut (), _: &mut Ctx) {
        self.forward_one(x, y);
    }

    /// Each id's row of the table receives the gradient of its output row.
    fn backward(
        &mut self,
        x: &[u32],
        _: &[f32],
        dy: &mut [f32],
        _: Option<InputGrad<'_>>,
        _: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        let grad = &mut self.embeddings.grad;
        for (&id, g) in x.iter().zip(dy.chunks_exact(D)) {
            let row = &mut grad[id as usize * D..(id as usize + 1) * D];
            row.iter_mut().zip(g).for_each(|(r, v)| *r += v);
        }
    }

    fn forward_one(&self, x: &[u32], y: &mut [f32]) {
        let table = &self.embeddings.value;
        for (&id, out) in x.iter().zip(y.chunks_exact_mut(D)) {
            // Ids were checked at the model's entry points; `get` keeps an
            // unchecked call from reading out of bounds (zeros instead).
            match table.get(id as usize * D..(id as usize + 1) * D) {
                Some(row) => out.copy_from_slice(row),
                None => out.fill(0.0),
            }
        }
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.embeddings);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        f(&self.embeddings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{compare_with_finite_differences, probe_grad, probe_loss};
    use rand::SeedableRng;

    #[test]
    fn table_gradient_matches_finite_differences_with_repeated_ids() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut e = Embedding::<4, 3, 5>::new(Initializer::RandomUniform { min: -0.5, max: 0.5 }, &mut rng);
        let ids = [0u32, 3, 3, 1, 0, 2, 2, 2, 0, 1];
        let mut y = vec![0.0; 30];
        e.forward(&ids, &mut y, 2, &mut (), &mut Ctx::new(0));
        let mut dy = vec![0.0; 30];
        probe_grad(&y, &mut dy);
        e.embeddings.grad.fill(0.0);
        e.backward(&ids, &y, &mut dy, None, 2, &mut (), &mut Ctx::new(0));
        let analytic = e.embeddings.grad.clone();
        let mut table = e.embeddings.value.clone();
        compare_with_finite_differences(&mut table, &analytic, |t| {
            e.embeddings.value.copy_from_slice(t);
            let mut y = vec![0.0; 30];
            e.forward_one(&ids, &mut y);
            probe_loss(&y)
        })
        .unwrap();
    }

    #[test]
    fn ids_out_of_range_are_reported_with_their_sample() {
        let e = Embedding::<4, 2, 3>::new(Initializer::Zeros, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
        assert!(e.check_ids(&[0, 1, 3, 2, 1, 0]).is_ok());
        let err = e.check_ids(&[0, 1, 3, 2, 4, 0]).unwrap_err();
        assert_eq!(err.to_string(), "token id 4 in sample 1 is out of range for an Embedding with input_dim 4");
    }

    #[test]
    fn default_initializer_is_keras_uniform() {
        let e = Embedding::<100, 64, 1>::new(
            Initializer::from_name("random_uniform").unwrap(),
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        );
        let v = &e.embeddings.value;
        assert!(v.iter().all(|x| x.abs() <= 0.05) && v.iter().any(|x| x.abs() > 0.04));
    }
}
