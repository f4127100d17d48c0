//! Reading a layer's arguments: Keras names, positional forms, defaults,
//! and spanned errors for unknown keywords and wrongly typed values.

use crate::errors::Errors;
use crate::layers::{DType, TensorType, INITIALIZERS};
use crate::parse::{Arg, LetStmt};
use crate::size::{Deferred, Piece, Size};
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, UnOp};

/// One layer call's arguments, consumed by name as the layer's spec reads them.
pub struct ArgReader<'a> {
    layer: String,
    args: Vec<(Option<&'a Ident>, &'a Expr, bool)>,
    errors: &'a mut Errors,
    /// Every argument a spec read, under its Keras keyword (positional
    /// ones too), in reading order: the layer's Keras config (`to_json`).
    recorded: Vec<Recorded>,
}

/// One argument a layer's spec read: its Keras keyword and the expression
/// written, which `to_json` writes as the config entry `keyword: value`.
#[derive(Clone)]
pub struct Recorded {
    pub keyword: String,
    pub value: Expr,
}

impl<'a> ArgReader<'a> {
    /// Reads `stmt`'s arguments; a keyword given twice is reported here
    /// (at its second use, which is then ignored).
    pub fn new(stmt: &'a LetStmt, errors: &'a mut Errors) -> Self {
        let mut args: Vec<(Option<&'a Ident>, &'a Expr, bool)> = Vec::new();
        for arg in &stmt.args {
            match arg {
                Arg::Named { name, value } => {
                    let repeated = args.iter().any(|(n, _, _)| n.is_some_and(|n| n == name));
                    if repeated {
                        errors.push(name, format!("`{name}` is given twice; keep one"));
                    }
                    args.push((Some(name), value, repeated));
                }
                Arg::Positional(value) => args.push((None, value, false)),
            }
        }
        ArgReader { layer: stmt.callee.to_string(), args, errors, recorded: Vec::new() }
    }

    /// The argument given as `name = …` or as the `position`-th positional
    /// argument, recorded under `name` for the layer's Keras config.
    pub fn take(&mut self, name: &str, position: Option<usize>) -> Option<&'a Expr> {
        let value = self.take_unrecorded(name, position)?;
        self.recorded.push(Recorded { keyword: name.to_string(), value: value.clone() });
        Some(value)
    }

    fn take_unrecorded(&mut self, name: &str, position: Option<usize>) -> Option<&'a Expr> {
        if let Some(index) = self.args.iter().position(|(n, _, used)| !used && n.is_some_and(|n| n == name)) {
            self.args[index].2 = true;
            let (keyword, value) = (self.args[index].0, self.args[index].1);
            // `Dense(4, units = 8)`: the same argument by position and by
            // keyword; reported, then the keyword's value is read (so the
            // layer's shape stays known and nothing else is reported).
            if let Some(entry) = position.and_then(|p| self.args.iter_mut().filter(|(n, _, _)| n.is_none()).nth(p)) {
                entry.2 = true;
                let message = format!("`{name}` is given twice, by position and as `{name} = …`; keep one");
                if let Some(keyword) = keyword {
                    self.errors.push(keyword, message);
                }
            }
            return Some(value);
        }
        let position = position?;
        let entry = self.args.iter_mut().filter(|(n, _, _)| n.is_none()).nth(position)?;
        entry.2 = true;
        Some(entry.1)
    }

    /// The argument given as `name = …`, consumed.
    pub fn take_named(&mut self, name: &str) -> Option<&'a Expr> {
        self.take(name, None)
    }

    /// The expression given for keyword `name`, without consuming it (for error spans).
    pub fn find(&self, name: &str) -> Option<&'a Expr> {
        self.args.iter().find(|(n, _, _)| n.is_some_and(|n| n == name)).map(|(_, e, _)| *e)
    }

    /// The `position`-th positional argument, without consuming it (for error spans).
    pub fn positional(&self, position: usize) -> Option<&'a Expr> {
        self.args.iter().filter(|(n, _, _)| n.is_none()).nth(position).map(|(_, e, _)| *e)
    }

    /// Marks the first positional argument as read.
    pub fn take_positional(&mut self) {
        if let Some(entry) = self.args.iter_mut().find(|(n, _, _)| n.is_none()) {
            entry.2 = true;
        }
    }

    /// A reader for a layer call nested in this one's arguments
    /// (`TimeDistributed(Dense(10))`), reporting into the same errors.
    pub fn nested<'b>(&'b mut self, stmt: &'b LetStmt) -> ArgReader<'b> {
        ArgReader::new(stmt, self.errors)
    }

    pub fn error(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.errors.push(tokens, message);
    }

    /// A required positive size (`units`): an integer, or a Rust constant
    /// expression (`VOCAB + 2`), whose check is then left to rustc.
    pub fn positive_int(&mut self, name: &str, position: Option<usize>, call: &LetStmt) -> Option<Size> {
        let Some(expr) = self.take(name, position) else {
            self.errors.push_at(call.args_span, format!("`{}` needs the argument `{name}`", self.layer));
            return None;
        };
        if is_const_expr(expr) {
            let size = Size::expr(expr);
            let message = vec![
                Piece::Text(format!("`{name}` of `{}` must be at least 1, but {} = ", self.layer, size.text())),
                Piece::Value(size.clone()),
            ];
            let check = Deferred { condition: quote::quote!((#size) >= 1), message };
            self.errors.deferred.push((syn::spanned::Spanned::span(expr), check));
            return Some(size);
        }
        match int_value(expr) {
            Some(0) => {
                self.error(expr, format!("`{name}` must be at least 1, found 0"));
                None
            }
            Some(v) if v > 0 => Some(Size::Known(v as usize)),
            Some(v) => {
                self.error(expr, format!("`{name}` must be at least 1, found {v}"));
                None
            }
            None => {
                self.error(expr, format!("`{name}` expects a positive integer"));
                None
            }
        }
    }

    /// A size per spatial axis, as Keras's `standardize_tuple` reads it
    /// (`kernel_size = 3` or `(3, 3)`, `strides`, `pool_size`): one
    /// integer for every axis, or a tuple (or list) of `rank` integers,
    /// each at least 1. `default` when absent; when `default` is `None`
    /// the argument is required. `None` when missing or wrong (the error
    /// is recorded at the argument).
    pub fn int_or_tuple(
        &mut self,
        name: &str,
        position: Option<usize>,
        rank: usize,
        default: Option<usize>,
        call: &LetStmt,
    ) -> Option<Vec<usize>> {
        match self.optional_int_or_tuple(name, position, rank) {
            Ok(Some(values)) => Some(values),
            Ok(None) => {
                if default.is_none() {
                    self.errors.push_at(call.args_span, format!("`{}` needs the argument `{name}`", self.layer));
                }
                default.map(|d| vec![d; rank])
            }
            Err(()) => None,
        }
    }

    /// [`ArgReader::int_or_tuple`] without a default: `Ok(None)` when
    /// absent (for defaults that depend on other arguments, such as
    /// pooling's `strides`), `Err` when wrong (the error recorded).
    #[allow(clippy::result_unit_err)]
    pub fn optional_int_or_tuple(
        &mut self,
        name: &str,
        position: Option<usize>,
        rank: usize,
    ) -> Result<Option<Vec<usize>>, ()> {
        let Some(expr) = self.take(name, position) else {
            return Ok(None);
        };
        let tuple = if rank == 1 { "`3` or `(3,)`" } else { "`3` or `(3, 3)`" };
        let expects =
            format!("`{name}` expects a positive integer or a tuple of {rank} positive integers, such as {tuple}");
        let elements: Vec<&Expr> = match expr {
            Expr::Tuple(t) => t.elems.iter().collect(),
            Expr::Array(a) => a.elems.iter().collect(),
            Expr::Paren(p) => vec![&*p.expr],
            single => vec![single],
        };
        let single = !matches!(expr, Expr::Tuple(_) | Expr::Array(_));
        if !single && elements.len() != rank {
            self.error(expr, format!("{expects}; found {} values", elements.len()));
            return Err(());
        }
        let mut values = Vec::with_capacity(rank);
        for element in &elements {
            match int_value(element) {
                Some(v) if v >= 1 => values.push(v as usize),
                Some(v) => {
                    self.error(element, format!("`{name}` must be at least 1, found {v}"));
                    return Err(());
                }
                None => {
                    self.error(element, expects);
                    return Err(());
                }
            }
        }
        if single {
            values = vec![values[0]; rank];
        }
        Ok(Some(values))
    }

    /// A required integer, possibly negative (`axis = -1`).
    pub fn int(&mut self, name: &str, position: Option<usize>, call: &LetStmt) -> Option<i64> {
        let Some(expr) = self.take(name, position) else {
            self.errors.push_at(call.args_span, format!("`{}` needs the argument `{name}`", self.layer));
            return None;
        };
        let value = int_value(expr);
        if value.is_none() {
            self.error(expr, format!("`{name}` expects an integer"));
        }
        value
    }

    /// A number literal (`0.5`, `1e-3`, `-2`, `1`), `default` when absent.
    /// Returns the value with the expression it was read from (for error
    /// spans); `None` when it is required and missing or not a number
    /// (the error recorded).
    pub fn float(
        &mut self,
        name: &str,
        position: Option<usize>,
        default: Option<f64>,
        call: &LetStmt,
    ) -> Option<(f64, Option<&'a Expr>)> {
        let Some(expr) = self.take(name, position) else {
            if default.is_none() {
                self.errors.push_at(call.args_span, format!("`{}` needs the argument `{name}`", self.layer));
            }
            return default.map(|d| (d, None));
        };
        let value = float_value(expr);
        if value.is_none() {
            self.error(expr, format!("`{name}` expects a number, such as `0.5`"));
        }
        value.map(|v| (v, Some(expr)))
    }

    /// Keras's "an integer or a tuple of `arity` integers" (`size = 2` or
    /// `size = (2, 3)`, `padding = 1` or `padding = (1, 2)`): the integers,
    /// one given alone repeated `arity` times. `default` when absent;
    /// `None` when wrong (the error recorded: not integers, the wrong
    /// count, or a value below `min`).
    pub fn int_or_tuple_min(
        &mut self,
        name: &str,
        position: Option<usize>,
        arity: usize,
        min: i64,
        default: &[i64],
    ) -> Option<Vec<i64>> {
        let Some(expr) = self.take(name, position) else {
            return Some(default.to_vec());
        };
        let values = match expr {
            Expr::Tuple(t) => t.elems.iter().map(int_value).collect::<Option<Vec<i64>>>(),
            Expr::Paren(p) => int_value(&p.expr).map(|v| vec![v; arity]),
            single => int_value(single).map(|v| vec![v; arity]),
        };
        let expected =
            if arity == 1 { "an integer".to_string() } else { format!("an integer or a tuple of {arity} integers") };
        match values {
            Some(v) if v.len() != arity => {
                self.error(expr, format!("`{name}` expects {expected}, found {} values", v.len()));
                None
            }
            Some(v) if v.iter().any(|&x| x < min) => {
                self.error(expr, format!("`{name}` values must be at least {min}"));
                None
            }
            Some(v) => Some(v),
            None => {
                self.error(expr, format!("`{name}` expects {expected}"));
                None
            }
        }
    }

    /// The first positional argument as tensor names, for operations
    /// written as functions: `reduce_sum(x, axis = 1)` or
    /// `concatenate([a, b])`. `None` (with the error recorded) if it is
    /// missing or not made of names.
    pub fn tensors(&mut self) -> Option<Vec<&'a Ident>> {
        let entry = self.args.iter_mut().find(|(n, _, _)| n.is_none())?;
        entry.2 = true;
        let expr = entry.1;
        let name = |e: &'a Expr| match e {
            Expr::Path(p) => p.path.get_ident(),
            _ => None,
        };
        let names: Option<Vec<&'a Ident>> = match expr {
            Expr::Array(list) => list.elems.iter().map(name).collect(),
            single => name(single).map(|n| vec![n]),
        };
        if names.is_none() {
            self.errors.push(expr, "expected a tensor name or a list of tensor names `[a, b]`");
        }
        names
    }

    /// Keras's declaration of a first layer's input: `input_shape = (20,)`
    /// or `input_dim = 20` (float features), or on an `Embedding`
    /// `input_length = 16` (ids). `Ok(None)` when absent; `Err` when
    /// wrong (the error is recorded).
    #[allow(clippy::result_unit_err)]
    pub fn input_declaration(&mut self, embedding: bool) -> Result<Option<(TensorType, Expr)>, ()> {
        let dtype = if embedding { DType::U32 } else { DType::F32 };
        let mut found = None;
        let mut wrong = false;
        let keywords: &[&str] =
            if embedding { &["input_shape", "input_length"] } else { &["input_shape", "input_dim"] };
        for &keyword in keywords {
            // Not recorded: the shape is the input's (its `InputLayer`), not the layer's config.
            let Some(expr) = self.take_unrecorded(keyword, None) else { continue };
            let dims: Option<Vec<&Expr>> = match (keyword, expr) {
                ("input_shape", Expr::Tuple(t)) => Some(t.elems.iter().collect()),
                ("input_shape", Expr::Paren(p)) => Some(vec![&*p.expr]),
                ("input_shape", Expr::Array(a)) => Some(a.elems.iter().collect()),
                ("input_shape", _) => None,
                (_, single) => Some(vec![single]),
            };
            let Some(dims) = dims.filter(|d| !d.is_empty()) else {
                self.error(expr, format!("`{keyword}` expects a shape without the batch axis, such as `(20,)`"));
                wrong = true;
                continue;
            };
            let mut shape = Vec::new();
            for dim in dims {
                match size_value(dim) {
                    Some(d) => shape.push(d),
                    _ => {
                        self.error(dim, format!("`{keyword}` expects positive integer sizes"));
                        wrong = true;
                    }
                }
            }
            if found.is_some() {
                self.error(
                    expr,
                    "the input's shape is declared twice; keep one of `input_shape`, `input_dim`, `input_length`",
                );
                wrong = true;
            }
            found = Some((TensorType { dtype, shape }, expr.clone()));
        }
        if wrong {
            return Err(());
        }
        Ok(found)
    }

    /// An optional string literal (`name = "main_output"`).
    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.take(name, None)? {
            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
            expr => {
                self.error(expr, format!("`{name}` expects a string literal"));
                None
            }
        }
    }

    pub fn bool(&mut self, name: &str, default: bool) -> bool {
        match self.take(name, None) {
            None => default,
            Some(Expr::Lit(ExprLit { lit: Lit::Bool(b), .. })) => b.value,
            Some(expr) => {
                self.error(expr, format!("`{name}` expects `true` or `false`"));
                default
            }
        }
    }

    /// A required name from `choices` (see [`ArgReader::choice`]); `None`
    /// when it is missing or unknown (the error is recorded).
    pub fn required_choice(
        &mut self,
        name: &str,
        position: Option<usize>,
        what: &str,
        choices: &[&str],
        call: &LetStmt,
    ) -> Option<usize> {
        let present = self.find(name).is_some()
            || position.is_some_and(|p| self.args.iter().filter(|(n, _, _)| n.is_none()).count() > p);
        if !present {
            self.errors.push_at(call.args_span, format!("`{}` needs the argument `{name}`", self.layer));
            return None;
        }
        Some(self.choice(name, position, what, choices, usize::MAX)).filter(|&i| i != usize::MAX)
    }

    /// A name from `choices`, given as an identifier (`relu`) or a string
    /// (`"relu"`); returns its index, or `default` when absent or wrong
    /// (the error is recorded).
    pub fn choice(
        &mut self,
        name: &str,
        position: Option<usize>,
        what: &str,
        choices: &[&str],
        default: usize,
    ) -> usize {
        let Some(expr) = self.take(name, position) else {
            return default;
        };
        let given = match expr {
            Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
            Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
            _ => None,
        };
        if let Some(index) = given.as_deref().and_then(|g| choices.iter().position(|c| *c == g)) {
            return index;
        }
        let label = quote::ToTokens::to_token_stream(expr).to_string();
        let hint = crate::errors::suggestion(given.as_deref().unwrap_or(&label), choices, "expected one of");
        self.error(expr, format!("unknown {what} `{label}` for `{name}`{hint}"));
        default
    }

    /// The initializer given as keyword `name` (one of [`INITIALIZERS`]),
    /// or `default`, for the layer's weight `weight` of `rank` dimensions
    /// (`None` when the layer has no such weight: `use_bias = false`): a
    /// name whose initializer cannot fill such a weight (orthogonal needs
    /// at least 2 dimensions, identity exactly 2: Keras's ValueError when
    /// it builds the weight) is reported at its span, and `default` returned.
    pub fn initializer(&mut self, name: &str, default: &str, weight: &str, rank: Option<usize>) -> &'static str {
        let fallback = INITIALIZERS.iter().position(|i| *i == default).unwrap_or(0);
        let chosen = INITIALIZERS[self.choice(name, None, "initializer", INITIALIZERS, fallback)];
        let Some(rank) = rank else { return chosen };
        let requirement = match chosen {
            "orthogonal" if rank < 2 => "at least 2 dimensions",
            "identity" if rank != 2 => "exactly 2 dimensions",
            _ => return chosen,
        };
        if let Some(expr) = self.find(name) {
            let layer = &self.layer;
            let message =
                format!("`{chosen}` fills a weight of {requirement}, but the {weight} of `{layer}` is {rank}-D");
            self.error(expr, message);
        }
        INITIALIZERS[fallback]
    }

    /// Reports keywords no spec asked for and surplus positional arguments;
    /// returns the arguments read (see [`Recorded`]).
    pub fn finish(self, known: &[&str]) -> Vec<Recorded> {
        for (name, expr, used) in &self.args {
            if *used {
                continue;
            }
            match name {
                Some(name) => {
                    let hint = crate::errors::suggestion(&name.to_string(), known, "expected one of");
                    self.errors.push(name, format!("`{}` has no argument `{name}`{hint}", self.layer));
                }
                None => self.errors.push(expr, format!("unexpected positional argument to `{}`", self.layer)),
            }
        }
        self.recorded
    }
}

/// Whether `expr` is a size written as a Rust constant expression:
/// `MAXLEN`, `config::VOCAB`, `VOCAB + 2`, `(N * 2)`, `size_of(…)`. Literals
/// other than integers are not, so `units = "four"` stays a wrong type.
pub fn is_const_expr(expr: &Expr) -> bool {
    match expr {
        Expr::Path(_) | Expr::Call(_) | Expr::MethodCall(_) | Expr::Field(_) | Expr::Index(_) | Expr::Cast(_) => true,
        Expr::Binary(b) => is_const_expr(&b.left) || is_const_expr(&b.right) || is_int(&b.left) && is_int(&b.right),
        Expr::Paren(p) => is_const_expr(&p.expr) || is_int(&p.expr),
        Expr::Block(_) => true,
        _ => false,
    }
}

fn is_int(expr: &Expr) -> bool {
    matches!(expr, Expr::Lit(ExprLit { lit: Lit::Int(_), .. }))
}

/// A size: an integer literal (positive, else `None`), or a constant
/// expression.
pub fn size_value(expr: &Expr) -> Option<Size> {
    if is_const_expr(expr) {
        return Some(Size::expr(expr));
    }
    match int_value(expr) {
        Some(v) if v > 0 => Some(Size::Known(v as usize)),
        _ => None,
    }
}

/// The value of a float or integer literal, possibly negated.
fn float_value(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) => f.base10_parse().ok(),
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse::<i64>().ok().map(|v| v as f64),
        Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr, .. }) => float_value(expr).map(|v| -v),
        _ => None,
    }
}

/// The value of an integer literal, possibly negated.
pub fn int_value(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse().ok(),
        Expr::Unary(ExprUnary { op: UnOp::Neg(_), expr, .. }) => int_value(expr).map(|v| -v),
        _ => None,
    }
}
