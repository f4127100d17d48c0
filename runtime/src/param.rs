//! Trainable (and non-trainable) parameters with their gradients.

pub use crate::aligned::AlignedVec;

/// One weight tensor of a layer and the gradient of the loss with respect to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Keras's variable name within its layer (`kernel`, `bias`, …).
    pub name: &'static str,
    /// Keras's shape of the variable (`[input_dim, units]` for a Dense kernel).
    pub shape: Vec<usize>,
    /// The values, row-major in `shape`, on a 64-byte boundary.
    pub value: AlignedVec,
    /// The gradient of the last backward pass, same layout as `value`.
    pub grad: AlignedVec,
    /// Whether optimizers update it.
    pub trainable: bool,
    /// Keras's `kernel_regularizer` & co.: a penalty added to the loss.
    pub regularizer: Option<crate::regularizers::Regularizer>,
    /// Keras's `kernel_constraint` & co.: applied after each optimizer step.
    pub constraint: Option<crate::regularizers::Constraint>,
}

impl Param {
    /// A trainable parameter of the given shape, all zeros.
    pub fn zeros(name: &'static str, shape: &[usize]) -> Self {
        let len = shape.iter().product();
        Param {
            name,
            shape: shape.to_vec(),
            value: AlignedVec::zeros(len),
            grad: AlignedVec::zeros(len),
            trainable: true,
            regularizer: None,
            constraint: None,
        }
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Whether it holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}
