//! `nalgebra` interop (feature `nalgebra`): one-sample inference on static
//! vectors, and batches held as the columns of a matrix, without copying
//! the inputs (a column of a column-major matrix is one sample's array).
//!
//! ```
//! use kiln::nalgebra_interop::PredictVector;
//! use kiln::prelude::*;
//! use nalgebra::{Const, Dyn, OMatrix, SVector};
//!
//! kiln::model! {
//!     struct Affine {
//!         input x: [f32; 2];
//!         let y = Dense(3)(x);
//!         output y;
//!     }
//! }
//!
//! let net = Affine::new(0);
//! let x = SVector::<f32, 2>::new(0.5, -1.0);
//! let y: SVector<f32, 3> = net.predict_vector(&x)?;
//! assert_eq!(y.as_slice(), &net.predict_one(&[0.5, -1.0])[..]);
//!
//! // Three samples as columns.
//! let batch = OMatrix::<f32, Const<2>, Dyn>::from_column_slice(&[0.5, -1.0, 1.0, 2.0, 0.0, 0.0]);
//! let out = net.predict_columns(&batch)?;
//! assert_eq!(out.ncols(), 3);
//! assert_eq!(out.column(1).as_slice(), &net.predict_one(&[1.0, 2.0])[..]);
//! # Ok::<(), kiln::Error>(())
//! ```

use crate::network::Network;
use crate::Result;
use nalgebra::{Const, Dyn, OMatrix, SVector};

/// Inference on `nalgebra` vectors for a network of one `[f32; I]` input
/// and one `[f32; O]` output (implemented for every such network).
pub trait PredictVector<const I: usize, const O: usize> {
    /// `predict_one` on a static vector: no heap allocation, no copy of `x`.
    fn predict_vector(&self, x: &SVector<f32, I>) -> Result<SVector<f32, O>>;

    /// One prediction per column of `x` (each column one sample), as the
    /// columns of the result.
    fn predict_columns(&self, x: &OMatrix<f32, Const<I>, Dyn>) -> Result<OMatrix<f32, Const<O>, Dyn>>;
}

impl<N, const I: usize, const O: usize> PredictVector<I, O> for N
where
    N: Network<Input = [f32; I], Output = [f32; O]>,
{
    fn predict_vector(&self, x: &SVector<f32, I>) -> Result<SVector<f32, O>> {
        // `SVector<f32, I>` stores `[[f32; I]; 1]`: its one column is the sample.
        Ok(SVector::from(self.try_predict_one(&x.data.0[0])?))
    }

    fn predict_columns(&self, x: &OMatrix<f32, Const<I>, Dyn>) -> Result<OMatrix<f32, Const<O>, Dyn>> {
        let mut out = OMatrix::<f32, Const<O>, Dyn>::zeros(x.ncols());
        for (column, mut target) in x.as_slice().chunks_exact(I).zip(out.column_iter_mut()) {
            let sample: &[f32; I] = column.try_into().expect("a column holds I values");
            target.copy_from_slice(&self.try_predict_one(sample)?);
        }
        Ok(out)
    }
}
