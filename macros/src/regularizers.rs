//! Keras's regularizer and constraint arguments, read the same way for
//! every layer: `kernel_regularizer = l2(0.01)`, `bias_constraint =
//! max_norm(2.0)`, `activity_regularizer = "l1"`. A layer kind lists its
//! weights ([`Weight`]); each weight `w` accepts `w_regularizer` and
//! `w_constraint`, and every layer accepts `activity_regularizer`.

use crate::args::ArgReader;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit};

/// A weight of a layer kind, as its regularizer and constraint keywords
/// name it: `recurrent_regularizer` applies to the parameter `recurrent_kernel`.
#[derive(Clone, Copy, Debug)]
pub struct Weight {
    /// The keywords' prefix: `kernel`, `recurrent`, `embeddings`.
    pub prefix: &'static str,
    /// The runtime parameter's name (`Param::name`).
    pub param: &'static str,
    /// The parameter's rank (for a constraint's `axis`).
    pub rank: usize,
}

/// A `Dense`-like layer's weights: `kernel` of rank `kernel_rank`, `bias`.
pub const fn kernel_and_bias(kernel_rank: usize) -> [Weight; 2] {
    [Weight { prefix: "kernel", param: "kernel", rank: kernel_rank }, Weight { prefix: "bias", param: "bias", rank: 1 }]
}

/// The regularizer and constraint of one weight, as runtime tokens.
pub struct WeightOptions {
    pub param: &'static str,
    pub regularizer: Option<TokenStream>,
    pub constraint: Option<TokenStream>,
}

/// Everything a layer call said about regularization.
#[derive(Default)]
pub struct Regularization {
    pub weights: Vec<WeightOptions>,
    pub activity: Option<TokenStream>,
}

impl Regularization {
    /// The keywords a kind with `weights` accepts besides its own.
    pub fn keywords(weights: &[Weight]) -> Vec<String> {
        let mut names = vec!["activity_regularizer".to_string()];
        for w in weights {
            names.push(format!("{}_regularizer", w.prefix));
            names.push(format!("{}_constraint", w.prefix));
        }
        names
    }

    /// Reads the keywords of [`Regularization::keywords`].
    pub fn read(args: &mut ArgReader<'_>, weights: &[Weight]) -> Self {
        let mut out = Regularization { activity: regularizer(args, "activity_regularizer"), ..Default::default() };
        for w in weights {
            let regularizer = regularizer(args, &format!("{}_regularizer", w.prefix));
            let constraint = constraint(args, &format!("{}_constraint", w.prefix), w.rank);
            if regularizer.is_some() || constraint.is_some() {
                out.weights.push(WeightOptions { param: w.param, regularizer, constraint });
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty() && self.activity.is_none()
    }

    /// `ctor` with the weights' regularizers and constraints set on its
    /// parameters (by name, through `Layer::visit_params`).
    pub fn wrap_constructor(&self, ctor: TokenStream) -> TokenStream {
        if self.weights.is_empty() {
            return ctor;
        }
        let arms = self.weights.iter().map(|w| {
            let name = w.param;
            let r = option(&w.regularizer);
            let c = option(&w.constraint);
            quote!(#name => { p.regularizer = #r; p.constraint = #c; })
        });
        quote!({
            let mut __layer = #ctor;
            ::kiln::__private::Layer::visit_params(&mut __layer, &mut |p| match p.name {
                #(#arms)*
                _ => {}
            });
            __layer
        })
    }
}

fn option(tokens: &Option<TokenStream>) -> TokenStream {
    match tokens {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    }
}

/// A call's name and arguments: `l2(0.01)`, `regularizers.l2(l2 = 0.01)`,
/// `"l2"`, `l2`.
struct Call<'a> {
    name: String,
    args: Vec<&'a Expr>,
}

fn call(expr: &Expr) -> Option<Call<'_>> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Some(Call { name: s.value(), args: Vec::new() }),
        Expr::Path(p) => Some(Call { name: p.path.segments.last()?.ident.to_string(), args: Vec::new() }),
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => {
                Some(Call { name: p.path.segments.last()?.ident.to_string(), args: c.args.iter().collect() })
            }
            _ => None,
        },
        Expr::MethodCall(m) => Some(Call { name: m.method.to_string(), args: m.args.iter().collect() }),
        _ => None,
    }
}

/// Keyword and positional arguments of a regularizer or constraint call,
/// each parameter read once by name or position.
struct Params<'a> {
    what: String,
    args: Vec<(Option<String>, &'a Expr, bool)>,
}

impl<'a> Params<'a> {
    fn new(what: String, args: &[&'a Expr]) -> Self {
        let args = args
            .iter()
            .map(|a| match a {
                Expr::Assign(assign) => match &*assign.left {
                    Expr::Path(p) if p.path.get_ident().is_some() => {
                        (p.path.get_ident().map(|i| i.to_string()), &*assign.right, false)
                    }
                    _ => (None, *a, false),
                },
                _ => (None, *a, false),
            })
            .collect();
        Params { what, args }
    }

    fn take(&mut self, name: &str, position: usize) -> Option<&'a Expr> {
        if let Some(entry) = self.args.iter_mut().find(|(n, _, used)| !used && n.as_deref() == Some(name)) {
            entry.2 = true;
            return Some(entry.1);
        }
        let entry = self.args.iter_mut().filter(|(n, _, _)| n.is_none()).nth(position)?;
        entry.2 = true;
        Some(entry.1)
    }

    /// A non-negative factor: a number literal, or any Rust constant
    /// expression (converted with `as f32`).
    fn factor(&mut self, reader: &mut ArgReader<'_>, name: &str, position: usize, default: f64) -> Option<TokenStream> {
        let Some(expr) = self.take(name, position) else {
            let v = default as f32;
            return Some(quote!(#v));
        };
        match number(expr) {
            Some(v) if v >= 0.0 && v.is_finite() => {
                let v = v as f32;
                Some(quote!(#v))
            }
            Some(v) => {
                reader.error(expr, format!("`{name}` of `{}(…)` must be a finite number ≥ 0, not {v}", self.what));
                None
            }
            None if matches!(expr, Expr::Lit(_)) => {
                reader.error(expr, format!("`{name}` of `{}(…)` expects a number", self.what));
                None
            }
            None => Some(quote!((#expr) as f32)),
        }
    }

    /// Reports arguments nothing read.
    fn finish(self, reader: &mut ArgReader<'_>, known: &[&str]) -> Option<()> {
        let mut ok = true;
        for (name, expr, used) in &self.args {
            if *used {
                continue;
            }
            ok = false;
            match name {
                Some(name) => {
                    let hint = crate::errors::suggestion(name, known, "expected one of");
                    reader.error(expr, format!("`{}` has no argument `{name}`{hint}", self.what));
                }
                None => reader.error(expr, format!("too many arguments to `{}`", self.what)),
            }
        }
        ok.then_some(())
    }
}

/// A number literal (int or float), possibly negated.
fn number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) => f.base10_parse().ok(),
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse::<i64>().ok().map(|v| v as f64),
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => number(&u.expr).map(|v| -v),
        Expr::Paren(p) => number(&p.expr),
        _ => None,
    }
}

const REGULARIZERS: &[&str] = &["l1", "l2", "l1_l2"];
const CONSTRAINTS: &[&str] = &["max_norm", "non_neg", "unit_norm", "min_max_norm"];

/// Keras's class names and aliases, mapped to the snake-case names.
fn canonical(name: &str) -> String {
    match name {
        "L1" => "l1".into(),
        "L2" => "l2".into(),
        "L1L2" => "l1_l2".into(),
        "MaxNorm" => "max_norm".into(),
        "NonNeg" => "non_neg".into(),
        "UnitNorm" => "unit_norm".into(),
        "MinMaxNorm" => "min_max_norm".into(),
        other => other.to_string(),
    }
}

/// `keyword = l2(0.01)` and its other spellings; `None` when absent or wrong.
fn regularizer(args: &mut ArgReader<'_>, keyword: &str) -> Option<TokenStream> {
    let expr = args.take_named(keyword)?;
    let Some(c) = call(expr) else {
        args.error(
            expr,
            format!("`{keyword}` expects a regularizer: `l1(0.01)`, `l2(0.01)` or `l1_l2(l1 = …, l2 = …)`"),
        );
        return None;
    };
    let name = canonical(&c.name);
    let path = quote!(::kiln::regularizers::Regularizer);
    let mut params = Params::new(name.clone(), &c.args);
    let tokens = match name.as_str() {
        "l1" => {
            let l1 = params.factor(args, "l1", 0, 0.01)?;
            params.finish(args, &["l1"])?;
            quote!(#path::L1 { l1: #l1 })
        }
        "l2" => {
            let l2 = params.factor(args, "l2", 0, 0.01)?;
            params.finish(args, &["l2"])?;
            quote!(#path::L2 { l2: #l2 })
        }
        "l1_l2" => {
            let l1 = params.factor(args, "l1", 0, 0.0)?;
            let l2 = params.factor(args, "l2", 1, 0.0)?;
            params.finish(args, &["l1", "l2"])?;
            quote!(#path::L1L2 { l1: #l1, l2: #l2 })
        }
        _ => {
            let hint = crate::errors::suggestion(&c.name, REGULARIZERS, "expected one of");
            args.error(expr, format!("unknown regularizer `{}` for `{keyword}`{hint}", c.name));
            return None;
        }
    };
    Some(tokens)
}

/// `keyword = max_norm(2.0)` and its other spellings, for a weight of
/// rank `rank`; `None` when absent or wrong.
fn constraint(args: &mut ArgReader<'_>, keyword: &str, rank: usize) -> Option<TokenStream> {
    let expr = args.take_named(keyword)?;
    let Some(c) = call(expr) else {
        args.error(expr, format!("`{keyword}` expects a constraint: one of {}", CONSTRAINTS.join(", ")));
        return None;
    };
    let name = canonical(&c.name);
    let path = quote!(::kiln::regularizers::Constraint);
    let mut params = Params::new(name.clone(), &c.args);
    let tokens = match name.as_str() {
        "non_neg" => {
            params.finish(args, &[])?;
            quote!(#path::NonNeg)
        }
        "max_norm" => {
            let max_value = params.factor(args, "max_value", 0, 2.0)?;
            let axes = axes(args, &mut params, 1, rank)?;
            params.finish(args, &["max_value", "axis"])?;
            quote!(#path::MaxNorm { max_value: #max_value, axes: ::std::vec![#(#axes),*] })
        }
        "unit_norm" => {
            let axes = axes(args, &mut params, 0, rank)?;
            params.finish(args, &["axis"])?;
            quote!(#path::UnitNorm { axes: ::std::vec![#(#axes),*] })
        }
        "min_max_norm" => {
            let min_value = params.factor(args, "min_value", 0, 0.0)?;
            let max_value = params.factor(args, "max_value", 1, 1.0)?;
            // Both numbers (literals or defaults): no norm lies between
            // bounds in the wrong order (the runtime refuses it too, for
            // bounds given as constants, but only once training starts).
            let number = |t: &TokenStream| t.to_string().trim_end_matches("f32").parse::<f32>().ok();
            if let (Some(lo), Some(hi)) = (number(&min_value), number(&max_value)) {
                if lo > hi {
                    args.error(
                        expr,
                        format!("`min_value` ({lo}) of `min_max_norm(…)` is above `max_value` ({hi}): no norm satisfies both"),
                    );
                    return None;
                }
            }
            let rate = params.factor(args, "rate", 2, 1.0)?;
            let axes = axes(args, &mut params, 3, rank)?;
            params.finish(args, &["min_value", "max_value", "rate", "axis"])?;
            quote!(#path::MinMaxNorm { min_value: #min_value, max_value: #max_value, rate: #rate, axes: ::std::vec![#(#axes),*] })
        }
        _ => {
            let hint = crate::errors::suggestion(&c.name, CONSTRAINTS, "expected one of");
            args.error(expr, format!("unknown constraint `{}` for `{keyword}`{hint}", c.name));
            return None;
        }
    };
    Some(tokens)
}

/// A constraint's `axis`: an integer or a list/tuple of integers, each
/// within the weight's rank (negative counts from the end); default 0.
fn axes(args: &mut ArgReader<'_>, params: &mut Params<'_>, position: usize, rank: usize) -> Option<Vec<i64>> {
    let Some(expr) = params.take("axis", position) else {
        return Some(vec![0]);
    };
    let items: Vec<&Expr> = match expr {
        Expr::Array(a) => a.elems.iter().collect(),
        Expr::Tuple(t) => t.elems.iter().collect(),
        Expr::Paren(p) => vec![&*p.expr],
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        let value = number(item).filter(|v| v.fract() == 0.0).map(|v| v as i64);
        let r = rank as i64;
        match value {
            Some(a) if (-r..r).contains(&a) => out.push(a),
            Some(a) => {
                args.error(
                    item,
                    format!("`axis` {a} is out of range for a weight of rank {rank} (−{rank} ≤ axis < {rank})"),
                );
                return None;
            }
            None => {
                args.error(item, "`axis` expects an integer or a list of integers");
                return None;
            }
        }
    }
    Some(out)
}
