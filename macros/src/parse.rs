//! Syntax of the DSL (no meaning yet):
//!
//! ```text
//! model      := attr* vis "struct" Ident ( "embed" LitStr )? ( "{" stmt* "}" )
//!             | attr* vis "struct" Ident "from" LitStr ( "embed" LitStr )? ";"
//! stmt       := "input" Ident ":" "[" elem ";" dim ("," dim)* "]" ";"
//!             | "let" Ident "=" Ident "(" args ")" ( "(" tensors ")" )? ";"
//!             | "output" Ident ("," Ident)* ";"
//! elem       := "f32" | "u32"
//! args       := (arg ("," arg)*)?        arg := (Ident "=")? expr
//! tensors    := Ident ("," Ident)*
//! ```
//!
//! `let h = Dense(300)(x);` applies a new layer to `x`; `let d = Dense(300);`
//! binds a layer to call later (sharing its weights): `let h = d(x);`.
//! A stack of layers can be written as a chain (Keras's `Sequential`):
//! `let y = x => Flatten() => Dense(300, activation = relu) => Dense(10);`
//! applies each layer to the previous one's output.
//! A user's layer type is applied with its output shape on the line:
//! `let y: [64] = custom(MyLayer::new(4))(x);` (or `custom::<MyLayer>(expr)`).

use crate::kw;
use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{bracketed, parenthesized, Attribute, Expr, Ident, Token, Visibility};

/// The whole `model! { … }` body.
pub struct ModelDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub stmts: Vec<Stmt>,
    /// The closing brace, where "no output" is reported.
    pub body_span: Span,
    /// `struct M from "model.keras";`: the Keras model config the
    /// statements are imported from (see `crate::import`).
    pub source: Option<syn::LitStr>,
    /// `struct M embed "weights.safetensors" { … }`: the weights compiled
    /// into the binary (see `crate::embed`).
    pub embed: Option<syn::LitStr>,
}

pub enum Stmt {
    Input(InputStmt),
    Let(Box<LetStmt>),
    Output(Vec<Ident>),
}

pub struct InputStmt {
    pub name: Ident,
    pub elem: Ident,
    /// Sizes: integers or Rust constant expressions (`MAXLEN`).
    pub dims: Vec<Expr>,
}

/// `let name = callee(args)(tensors);` or `let name = callee(args);`.
pub struct LetStmt {
    pub name: Ident,
    /// `: [64]` — the declared output shape (custom layers).
    pub declared: Option<Declared>,
    /// `custom(expr)` / `custom::<Type>(expr)`: a user's layer.
    pub custom: Option<Custom>,
    pub callee: Ident,
    pub args: Punctuated<Arg, Token![,]>,
    /// Parentheses of the first group, for errors about the whole call.
    pub args_span: Span,
    pub tensors: Option<Punctuated<Ident, Token![,]>>,
    /// How errors name the tensor this line defines when the user never
    /// wrote its name (a link inside a `=>` chain); `None`: `` `name` ``.
    pub shown: Option<String>,
}

pub struct Declared {
    pub bracket: syn::token::Bracket,
    /// Sizes: integers or Rust constant expressions (`MAXLEN`).
    pub dims: Vec<Expr>,
}

pub struct Custom {
    pub ty: Option<syn::Type>,
    pub expr: Expr,
}

pub enum Arg {
    Named { name: Ident, value: Expr },
    Positional(Expr),
}

/// The model's attributes, visibility and name, read even when its body
/// has a syntax error.
pub struct ModelHead {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
}

impl Parse for ModelHead {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name = input.parse()?;
        // The rest (the body with its error) is not needed.
        input.step(|cursor| {
            let mut rest = *cursor;
            while let Some((_, next)) = rest.token_tree() {
                rest = next;
            }
            Ok(((), rest))
        })?;
        Ok(ModelHead { attrs, vis, name })
    }
}

impl Parse for ModelDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name = input.parse()?;
        let source: Option<syn::LitStr> = if input.peek(kw::from) {
            input.parse::<kw::from>()?;
            Some(input.parse()?)
        } else {
            None
        };
        let embed = if input.peek(kw::embed) {
            input.parse::<kw::embed>()?;
            Some(input.parse()?)
        } else {
            None
        };
        if let Some(source) = source {
            input.parse::<Token![;]>()?;
            let body_span = source.span();
            return Ok(ModelDef { attrs, vis, name, stmts: Vec::new(), body_span, source: Some(source), embed });
        }
        let body;
        let brace = syn::braced!(body in input);
        let mut stmts = Vec::new();
        while !body.is_empty() {
            if body.peek(Token![let]) && body.peek2(Ident) && body.peek3(Token![=]) && is_chain(&body.fork()) {
                stmts.extend(parse_chain(&body)?.into_iter().map(|s| Stmt::Let(Box::new(s))));
            } else {
                stmts.push(body.parse()?);
            }
        }
        Ok(ModelDef { attrs, vis, name, stmts, body_span: brace.span.close(), source: None, embed })
    }
}

impl Parse for Stmt {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::input) {
            input.parse::<kw::input>()?;
            let name = input.parse()?;
            input.parse::<Token![:]>()?;
            let shape;
            bracketed!(shape in input);
            let elem = shape.parse()?;
            shape.parse::<Token![;]>()?;
            let dims = Punctuated::<Expr, Token![,]>::parse_separated_nonempty(&shape)?;
            input.parse::<Token![;]>()?;
            Ok(Stmt::Input(InputStmt { name, elem, dims: dims.into_iter().collect() }))
        } else if lookahead.peek(Token![let]) {
            input.parse::<Token![let]>()?;
            let name = input.parse()?;
            let declared = if input.peek(Token![:]) {
                input.parse::<Token![:]>()?;
                let dims;
                let bracket = bracketed!(dims in input);
                let dims = Punctuated::<Expr, Token![,]>::parse_separated_nonempty(&dims)?;
                Some(Declared { bracket, dims: dims.into_iter().collect() })
            } else {
                None
            };
            input.parse::<Token![=]>()?;
            let callee: Ident = input.parse()?;
            if callee == "custom" {
                let ty = if input.peek(Token![::]) {
                    input.parse::<Token![::]>()?;
                    input.parse::<Token![<]>()?;
                    let ty = input.parse()?;
                    input.parse::<Token![>]>()?;
                    Some(ty)
                } else {
                    None
                };
                let inner;
                let parens = parenthesized!(inner in input);
                let expr: Expr = inner.parse()?;
                // Without a tensor list, `custom(…)` binds the layer for later calls.
                let tensors = if input.peek(syn::token::Paren) {
                    let tensors;
                    parenthesized!(tensors in input);
                    Some(tensors.parse_terminated(Ident::parse, Token![,])?)
                } else {
                    None
                };
                input.parse::<Token![;]>()?;
                return Ok(Stmt::Let(Box::new(LetStmt {
                    name,
                    declared,
                    custom: Some(Custom { ty, expr }),
                    callee,
                    args: Punctuated::new(),
                    args_span: parens.span.join(),
                    tensors,
                    shown: None,
                })));
            }
            let args;
            let parens = parenthesized!(args in input);
            let args = args.parse_terminated(Arg::parse, Token![,])?;
            let tensors = if input.peek(syn::token::Paren) {
                let inner;
                parenthesized!(inner in input);
                Some(inner.parse_terminated(Ident::parse, Token![,])?)
            } else {
                None
            };
            input.parse::<Token![;]>()?;
            Ok(Stmt::Let(Box::new(LetStmt {
                name,
                declared,
                custom: None,
                callee,
                args,
                args_span: parens.span.join(),
                tensors,
                shown: None,
            })))
        } else if lookahead.peek(kw::output) {
            input.parse::<kw::output>()?;
            let names = Punctuated::<Ident, Token![,]>::parse_separated_nonempty(input)?;
            input.parse::<Token![;]>()?;
            Ok(Stmt::Output(names.into_iter().collect()))
        } else {
            Err(lookahead.error())
        }
    }
}

/// Whether the `let` ahead is `let name = tensor => …`.
fn is_chain(ahead: ParseStream) -> bool {
    (|| -> syn::Result<bool> {
        ahead.parse::<Token![let]>()?;
        ahead.parse::<Ident>()?;
        ahead.parse::<Token![=]>()?;
        ahead.parse::<Ident>()?;
        Ok(ahead.peek(Token![=>]))
    })()
    .unwrap_or(false)
}

/// `let y = x => A(…) => B(…);` as `let y__1 = A(…)(x); let y = B(…)(y__1);`.
fn parse_chain(input: ParseStream) -> syn::Result<Vec<LetStmt>> {
    input.parse::<Token![let]>()?;
    let name: Ident = input.parse()?;
    input.parse::<Token![=]>()?;
    let mut previous: Ident = input.parse()?;
    let mut links = Vec::new();
    while input.peek(Token![=>]) {
        input.parse::<Token![=>]>()?;
        let callee: Ident = input.parse()?;
        let args;
        let parens = parenthesized!(args in input);
        let args = args.parse_terminated(Arg::parse, Token![,])?;
        links.push((callee, args, parens.span.join()));
    }
    input.parse::<Token![;]>()?;
    let count = links.len();
    let mut stmts = Vec::new();
    let callees: Vec<String> = links.iter().map(|(c, _, _)| c.to_string()).collect();
    for (k, (callee, args, args_span)) in links.into_iter().enumerate() {
        let last = k + 1 == count;
        let out = if last { name.clone() } else { Ident::new(&format!("{name}__{}", k + 1), callee.span()) };
        // The user never wrote `y__1`: errors describe the link instead.
        let shown = (!last).then(|| {
            let same = callees.iter().filter(|c| **c == callees[k]).count();
            let nth = callees[..=k].iter().filter(|c| **c == callees[k]).count();
            let ordinal = if same > 1 { format!("{} ", ordinal(nth)) } else { String::new() };
            format!("the output of the {ordinal}`{callee}` in the chain of `{name}`")
        });
        let mut tensors = Punctuated::new();
        // A link's input that the user never named is spanned on this
        // link, so an error about it points at the layer that reads it.
        let input = if k == 0 { previous.clone() } else { Ident::new(&previous.to_string(), callee.span()) };
        tensors.push(input);
        stmts.push(LetStmt {
            name: out.clone(),
            declared: None,
            custom: None,
            callee,
            args,
            args_span,
            tensors: Some(tensors),
            shown,
        });
        previous = out;
    }
    Ok(stmts)
}

/// `1st`, `2nd`, `3rd`, `4th`, …
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) {
            let name = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Arg::Named { name, value: input.parse()? })
        } else {
            Ok(Arg::Positional(input.parse()?))
        }
    }
}
