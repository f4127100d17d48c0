// mistakes: 1
use kiln::layers::{Ctx, InputGrad, Layer};

/// Doubles 8 features (so its real output shape is [8]).
pub struct Double;

impl Layer for Double {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = 8;
    const OUTPUT_LEN: usize = 8;
    fn keras_type(&self) -> &'static str {
        "Double"
    }
    fn forward(&self, x: &[f32], y: &mut [f32], _: usize, _: &mut (), _: &mut Ctx) {
        y.iter_mut().zip(x).for_each(|(y, x)| *y = 2.0 * x);
    }
    fn backward(&mut self, _: &[f32], _: &[f32], _: &mut [f32], _: Option<InputGrad<'_>>, _: usize, _: &mut (), _: &mut Ctx) {}
    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        y.iter_mut().zip(x).for_each(|(y, x)| *y = 2.0 * x);
    }
}

kiln::model! {
    struct M {
        input x: [f32; 8];
        let doubled: [16] = custom::<Double>(Double)(x);
        let y = Dense(1)(doubled);
        output y;
    }
}

fn main() {}
