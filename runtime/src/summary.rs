//! `model.summary()`, printed as `tf.keras` prints it.

use std::fmt;

/// One layer's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// Keras's layer name (`dense_1`).
    pub name: String,
    /// Keras's class name (`Dense`, `InputLayer`).
    pub kind: String,
    /// `(None, 300)`; `multiple` when calls differ.
    pub output_shape: String,
    /// Trainable scalars.
    pub trainable: usize,
    /// Non-trainable scalars.
    pub non_trainable: usize,
    /// Inbound tensors, Keras-style: `dense[0][0]` (layer, node, tensor).
    pub connected_to: Vec<String>,
}

/// A model's layer table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Shown as `Model: "name"`.
    pub model_name: String,
    /// Input layers first, then layers in call order.
    pub rows: Vec<SummaryRow>,
    /// Keras's narrow three-column table (a plain chain of layers) instead
    /// of the wide one with `Connected to`.
    pub sequential_like: bool,
}

impl Summary {
    /// Trainable scalars of the whole model.
    pub fn trainable_params(&self) -> usize {
        self.rows.iter().map(|r| r.trainable).sum()
    }

    /// Non-trainable scalars of the whole model.
    pub fn non_trainable_params(&self) -> usize {
        self.rows.iter().map(|r| r.non_trainable).sum()
    }

    /// All scalars.
    pub fn total_params(&self) -> usize {
        self.trainable_params() + self.non_trainable_params()
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Keras's `print_row`: each field cut or padded to end at its column.
fn row(fields: &[&str], positions: &[usize]) -> String {
    let mut line = String::new();
    for (i, (field, &end)) in fields.iter().zip(positions).enumerate() {
        if i > 0 {
            line.pop();
            line.push(' ');
        }
        line.push_str(field);
        line = line.chars().take(end).collect();
        while line.chars().count() < end {
            line.push(' ');
        }
    }
    line
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (width, positions, header): (usize, &[usize], &[&str]) = if self.sequential_like {
            (65, &[29, 55, 65], &["Layer (type)", "Output Shape", "Param #"])
        } else {
            (98, &[32, 53, 65, 98], &["Layer (type)", "Output Shape", "Param #", "Connected to"])
        };
        writeln!(f, "Model: \"{}\"", self.model_name)?;
        writeln!(f, "{}", "_".repeat(width))?;
        writeln!(f, "{}", row(header, positions))?;
        writeln!(f, "{}", "=".repeat(width))?;
        for (i, r) in self.rows.iter().enumerate() {
            let title = format!("{} ({})", r.name, r.kind);
            let params = (r.trainable + r.non_trainable).to_string();
            let first = r.connected_to.first().map(String::as_str).unwrap_or("");
            writeln!(f, "{}", row(&[&title, &r.output_shape, &params, first], positions))?;
            if !self.sequential_like {
                for more in r.connected_to.iter().skip(1) {
                    writeln!(f, "{}", row(&["", "", "", more], positions))?;
                }
            }
            let rule = if i + 1 == self.rows.len() { "=" } else { "_" };
            writeln!(f, "{}", rule.repeat(width))?;
        }
        writeln!(f, "Total params: {}", thousands(self.total_params()))?;
        writeln!(f, "Trainable params: {}", thousands(self.trainable_params()))?;
        writeln!(f, "Non-trainable params: {}", thousands(self.non_trainable_params()))?;
        write!(f, "{}", "_".repeat(width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, kind: &str, shape: &str, params: usize, connected: &[&str]) -> SummaryRow {
        SummaryRow {
            name: name.into(),
            kind: kind.into(),
            output_shape: shape.into(),
            trainable: params,
            non_trainable: 0,
            connected_to: connected.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The tutorial's printed summary (seed 000, text classifier), verbatim.
    #[test]
    fn narrow_table_matches_keras_output_byte_for_byte() {
        let s = Summary {
            model_name: "model_30".into(),
            rows: vec![
                r("input", "InputLayer", "(None, 16)", 0, &[]),
                r("embedding_31", "Embedding", "(None, 16, 64)", 256, &["input[0][0]"]),
                r("lstm_26", "LSTM", "(None, 64)", 33024, &["embedding_31[0][0]"]),
                r("dense_31", "Dense", "(None, 1)", 65, &["lstm_26[0][0]"]),
            ],
            sequential_like: true,
        };
        let expected = "Model: \"model_30\"
_________________________________________________________________
Layer (type)                 Output Shape              Param #   
=================================================================
input (InputLayer)           (None, 16)                0         
_________________________________________________________________
embedding_31 (Embedding)     (None, 16, 64)            256       
_________________________________________________________________
lstm_26 (LSTM)               (None, 64)                33024     
_________________________________________________________________
dense_31 (Dense)             (None, 1)                 65        
=================================================================
Total params: 33,345
Trainable params: 33,345
Non-trainable params: 0
_________________________________________________________________";
        assert_eq!(s.to_string(), expected);
    }

    /// The tutorial's shared-LSTM summary rows (seed 000), verbatim.
    #[test]
    fn wide_table_lists_every_inbound_node() {
        let s = Summary {
            model_name: "model_32".into(),
            rows: vec![r(
                "lstm-encoder",
                "LSTM",
                "(None, 16, 64)",
                33024,
                &["embedding_33[0][0]", "lstm-encoder[0][0]", "lstm-encoder[1][0]"],
            )],
            sequential_like: false,
        };
        let text = s.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "Layer (type)                    Output Shape         Param #     Connected to                     "
        );
        assert_eq!(
            lines[4],
            "lstm-encoder (LSTM)             (None, 16, 64)       33024       embedding_33[0][0]               "
        );
        assert_eq!(
            lines[5],
            "                                                                 lstm-encoder[0][0]               "
        );
        assert_eq!(thousands(266_610), "266,610");
    }
}
