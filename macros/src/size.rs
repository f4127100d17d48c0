//! Sizes: a number the macro knows, or a Rust constant expression
//! (`MAXLEN`, `VOCAB + 2`) that only rustc can evaluate.
//!
//! Shapes are inferred with sizes as values where known and as
//! expressions otherwise: a product or sum of expressions is an
//! expression, which the generated code places where rustc evaluates it
//! (const generics, array lengths, buffer sizes). A check the macro cannot
//! decide (`MAXLEN` against `20`) becomes a [`Deferred`] check: a constant
//! in the generated code, spanned on the user's line, whose failure is a
//! compile error naming the layer and both shapes with their values.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};

/// A size: known to the macro, or a constant expression of type `usize`.
#[derive(Clone, Debug)]
pub enum Size {
    Known(usize),
    /// The expression, and how messages show it (`VOCAB + 2`).
    Expr(TokenStream, String),
}

impl Size {
    /// A size written as a constant expression, from the user's tokens.
    pub fn expr(expr: &syn::Expr) -> Size {
        let tokens = expr.to_token_stream();
        let text = tokens.to_string().replace(" :: ", "::").replace("( ", "(").replace(" )", ")");
        Size::Expr(tokens, text)
    }

    /// The value, when the macro knows it.
    pub fn known(&self) -> Option<usize> {
        match self {
            Size::Known(n) => Some(*n),
            Size::Expr(..) => None,
        }
    }

    /// How messages show the size: `16`, or `MAXLEN`.
    pub fn text(&self) -> String {
        match self {
            Size::Known(n) => n.to_string(),
            Size::Expr(_, text) => text.clone(),
        }
    }

    /// Whether the two sizes certainly differ (both known, unequal).
    pub fn differs(&self, other: &Size) -> bool {
        matches!((self, other), (Size::Known(a), Size::Known(b)) if a != b)
    }

    pub fn mul(&self, other: &Size) -> Size {
        match (self, other) {
            (Size::Known(a), Size::Known(b)) => Size::Known(a * b),
            (Size::Known(1), x) | (x, Size::Known(1)) => x.clone(),
            (a, b) => Size::Expr(quote!((#a) * (#b)), format!("{} * {}", a.wrapped(), b.wrapped())),
        }
    }

    pub fn add(&self, other: &Size) -> Size {
        match (self, other) {
            (Size::Known(a), Size::Known(b)) => Size::Known(a + b),
            (a, b) => Size::Expr(quote!((#a) + (#b)), format!("{} + {}", a.text(), b.text())),
        }
    }

    /// The text, parenthesized when it is a sum (for products).
    fn wrapped(&self) -> String {
        let text = self.text();
        if text.contains(' ') && !text.contains('*') {
            format!("({text})")
        } else {
            text
        }
    }

    pub fn product<'a>(sizes: impl IntoIterator<Item = &'a Size>) -> Size {
        sizes.into_iter().fold(Size::Known(1), |acc, s| acc.mul(s))
    }

    pub fn sum<'a>(sizes: impl IntoIterator<Item = &'a Size>) -> Size {
        sizes.into_iter().fold(Size::Known(0), |acc, s| acc.add(s))
    }
}

/// Sizes are equal when both are known and equal, or are the same
/// expression; otherwise the macro cannot tell (see [`Size::differs`]).
impl PartialEq for Size {
    fn eq(&self, other: &Size) -> bool {
        match (self, other) {
            (Size::Known(a), Size::Known(b)) => a == b,
            (Size::Expr(_, a), Size::Expr(_, b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Size {}

/// A known size is a `usize` literal; an expression is a block, valid in
/// a const generic argument, an array length and an expression.
impl ToTokens for Size {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Size::Known(n) => n.to_tokens(tokens),
            Size::Expr(expr, _) => tokens.extend(quote!({ #expr })),
        }
    }
}

/// How two shapes compare in the macro.
pub enum Agreement {
    Same,
    /// Different ranks, or a pair of known sizes that differ.
    Differ,
    /// Equal if these pairs are (left to rustc).
    Maybe(Vec<(Size, Size)>),
}

/// Compares two shapes (or the dimensions of them a check cares about).
pub fn agree(a: &[Size], b: &[Size]) -> Agreement {
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.differs(y)) {
        return Agreement::Differ;
    }
    let pairs: Vec<(Size, Size)> =
        a.iter().zip(b).filter(|(x, y)| x != y).map(|(x, y)| (x.clone(), y.clone())).collect();
    if pairs.is_empty() {
        Agreement::Same
    } else {
        Agreement::Maybe(pairs)
    }
}

/// A piece of a deferred check's message: text, or a size whose value
/// rustc writes in.
#[derive(Clone, Debug)]
pub enum Piece {
    Text(String),
    Value(Size),
}

/// `[MAXLEN = 16, 64]`: a shape with the values of its expressions.
pub fn shape_pieces(shape: &[Size]) -> Vec<Piece> {
    let mut out = vec![Piece::Text("[".into())];
    for (i, dim) in shape.iter().enumerate() {
        if i > 0 {
            out.push(Piece::Text(", ".into()));
        }
        match dim {
            Size::Known(n) => out.push(Piece::Text(n.to_string())),
            Size::Expr(_, text) => {
                out.push(Piece::Text(format!("{text} = ")));
                out.push(Piece::Value(dim.clone()));
            }
        }
    }
    out.push(Piece::Text("]".into()));
    out
}

/// A check the macro could not decide: `condition` must hold, or the
/// build fails with `message`, at `span`.
pub struct Deferred {
    pub condition: TokenStream,
    pub message: Vec<Piece>,
}

impl Deferred {
    /// All `pairs` equal.
    pub fn equal(pairs: &[(Size, Size)], message: Vec<Piece>) -> Deferred {
        let conditions = pairs.iter().map(|(a, b)| quote!((#a) == (#b)));
        Deferred { condition: quote!(true #(&& #conditions)*), message }
    }

    /// The constant that fails the build when the condition is false. The
    /// message is assembled in a byte array because const panics cannot
    /// format numbers.
    pub fn tokens(&self, span: Span) -> TokenStream {
        let condition = &self.condition;
        let writes = self.message.iter().map(|piece| match piece {
            Piece::Text(text) => quote!(len = text(&mut out, len, #text);),
            Piece::Value(size) => quote!(len = number(&mut out, len, #size);),
        });
        quote_spanned! {span=>
            const _: () = {
                const fn text(out: &mut [u8; 1024], mut len: usize, text: &str) -> usize {
                    let bytes = text.as_bytes();
                    let mut i = 0;
                    while i < bytes.len() && len < 1024 {
                        out[len] = bytes[i];
                        len += 1;
                        i += 1;
                    }
                    len
                }
                const fn number(out: &mut [u8; 1024], mut len: usize, n: usize) -> usize {
                    let mut digits = [0u8; 20];
                    let (mut d, mut v) = (0, n);
                    loop {
                        digits[d] = b'0' + (v % 10) as u8;
                        d += 1;
                        v /= 10;
                        if v == 0 {
                            break;
                        }
                    }
                    while d > 0 && len < 1024 {
                        d -= 1;
                        out[len] = digits[d];
                        len += 1;
                    }
                    len
                }
                const MESSAGE: ([u8; 1024], usize) = {
                    let mut out = [0u8; 1024];
                    let mut len = 0;
                    #(#writes)*
                    (out, len)
                };
                if !(#condition) {
                    match ::core::str::from_utf8(MESSAGE.0.split_at(MESSAGE.1).0) {
                        ::core::result::Result::Ok(message) => ::core::panic!("{}", message),
                        ::core::result::Result::Err(_) => ::core::panic!("a shape check of this line failed"),
                    }
                }
            };
        }
    }
}
