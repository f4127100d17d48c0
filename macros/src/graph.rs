//! Meaning of the DSL: names resolved, layers configured, shapes inferred,
//! and the graph checked. Every error is collected; `build` fails once
//! with all of them.

use crate::args::{ArgReader, Recorded};
use crate::errors::Errors;
use crate::layers::{self, DType, Spec, TensorType};
use crate::parse::{Arg, InputStmt, LetStmt, ModelDef, Stmt};
use crate::size::{agree, shape_pieces, Agreement, Deferred, Piece, Size};
use std::collections::{HashMap, HashSet};
use syn::{Expr, Ident};

pub struct Graph {
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub tensors: Vec<Tensor>,
    pub layers: Vec<LayerInfo>,
    /// In definition order, which is a topological order.
    pub nodes: Vec<Node>,
    /// Checks involving constant sizes, for rustc to make (at their spans).
    pub deferred: Vec<(proc_macro2::Span, Deferred)>,
}

pub struct Tensor {
    pub ident: Ident,
    pub ty: TensorType,
    /// `None` for model inputs.
    pub producer: Option<usize>,
}

pub struct LayerInfo {
    /// The struct field holding the layer.
    pub field: Ident,
    /// Keras's layer name, shown by `summary()`.
    pub keras_name: String,
    pub spec: Box<dyn Spec>,
    /// The arguments its line gave, under Keras's keywords (`to_json`).
    pub args: Vec<Recorded>,
    pub inputs: Vec<TensorType>,
    pub output: TensorType,
    pub nodes: Vec<usize>,
}

pub struct Node {
    pub layer: usize,
    pub inputs: Vec<usize>,
    pub output: usize,
}

/// What a name refers to while the graph is built.
#[derive(Clone, Copy)]
enum Binding {
    Tensor(Option<usize>),
    Layer(Option<usize>),
    /// A line whose error was reported and whose result could be a tensor
    /// or a layer (`let s = reduce_summ(e, axis = 1);`): every use of the
    /// name passes silently, so one mistake gives one error.
    Unknown,
}

/// A layer before its first call fixes its input type.
struct PendingLayer {
    field: Ident,
    explicit_name: Option<String>,
    spec: Box<dyn Spec>,
    args: Vec<Recorded>,
    types: Option<(Vec<TensorType>, TensorType)>,
    nodes: Vec<usize>,
    /// The binding (`let d = Dense(..)`), for "never called" errors.
    binding: Option<Ident>,
    /// The first call's inputs and the tensor it defined (as errors name
    /// them), for errors about a later call of a shared layer.
    first_call: (Vec<(TensorType, String)>, String),
}

struct Builder<'a> {
    def: &'a ModelDef,
    errors: Errors,
    names: HashMap<String, Binding>,
    /// Every name the model defines anywhere, for "used before it is defined".
    defined_later: HashSet<String>,
    tensors: Vec<(Ident, Option<TensorType>, Option<usize>)>,
    /// How errors name each tensor: `` `x` ``, or a description of a
    /// chain link's output (whose name the user never wrote).
    shown: Vec<String>,
    /// How many times each tensor name has been rebound.
    rebound: HashMap<String, usize>,
    layers: Vec<PendingLayer>,
    nodes: Vec<Node>,
    inputs: Vec<usize>,
    outputs: Vec<(usize, Ident)>,
}

impl Graph {
    pub fn build(def: &ModelDef) -> syn::Result<Graph> {
        let defined_later = def
            .stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Input(i) => Some(i.name.to_string()),
                Stmt::Let(l) => Some(l.name.to_string()),
                Stmt::Output(_) => None,
            })
            .collect();
        let mut b = Builder {
            def,
            errors: Errors::default(),
            names: HashMap::new(),
            defined_later,
            tensors: Vec::new(),
            shown: Vec::new(),
            rebound: HashMap::new(),
            layers: Vec::new(),
            nodes: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        for stmt in &def.stmts {
            match stmt {
                Stmt::Input(input) => b.input(input),
                Stmt::Let(stmt) => b.let_stmt(stmt),
                Stmt::Output(names) => b.output(names),
            }
        }
        b.check_whole_graph();
        b.finish()
    }
}

impl Builder<'_> {
    fn define(&mut self, name: &Ident, binding: Binding) -> bool {
        let key = name.to_string();
        let rebinds_a_tensor = matches!(binding, Binding::Tensor(None) | Binding::Unknown)
            && matches!(self.names.get(&key), Some(Binding::Tensor(_) | Binding::Unknown));
        if self.names.contains_key(&key) && !rebinds_a_tensor {
            self.errors.push(name, format!("`{name}` is already defined in this model"));
            return false;
        }
        self.names.insert(key, binding);
        true
    }

    /// A dimension written in a shape: a positive integer, or a Rust
    /// constant expression whose positivity rustc checks.
    fn dimension(&mut self, dim: &Expr) -> Option<Size> {
        let Some(size) = crate::args::size_value(dim) else {
            self.errors.push(dim, "a dimension must be a positive integer or a constant (`MAXLEN`, `VOCAB + 2`)");
            return None;
        };
        if size.known().is_none() {
            let message = vec![
                Piece::Text(format!("a dimension must be at least 1, but {} = ", size.text())),
                Piece::Value(size.clone()),
            ];
            let check = Deferred { condition: quote::quote!((#size) >= 1), message };
            self.errors.deferred.push((syn::spanned::Spanned::span(dim), check));
        }
        Some(size)
    }

    /// Binds `name` to tensor `id`, returning the tensor's identifier in
    /// generated code. As in Keras code (`x = Dense(64)(x)`) and Rust's
    /// shadowing, a name already bound to a tensor is rebound: later lines
    /// see the new tensor, and the old one keeps a fresh identifier
    /// (`x__r1`) that errors never show. A layer's name cannot be rebound
    /// (it names the model's field); that error is reported here.
    fn bind_tensor(&mut self, name: &Ident, id: usize) -> Option<Ident> {
        let key = name.to_string();
        match self.names.get(&key) {
            None => {
                self.names.insert(key, Binding::Tensor(Some(id)));
                Some(name.clone())
            }
            Some(Binding::Layer(_)) => {
                self.errors.push(name, format!("`{name}` already names a layer; give this tensor another name"));
                // The call still counts (the layer is not "never called"),
                // and later uses of the name pass silently.
                self.names.insert(key, Binding::Unknown);
                Some(Ident::new(&format!("{name}__conflict"), name.span()))
            }
            Some(Binding::Tensor(_) | Binding::Unknown) => {
                let count = self.rebound.entry(key.clone()).or_insert(0);
                *count += 1;
                let fresh = Ident::new(&format!("{name}__r{count}"), name.span());
                self.names.insert(key, Binding::Tensor(Some(id)));
                Some(fresh)
            }
        }
    }

    fn input(&mut self, input: &InputStmt) {
        let dtype = match input.elem.to_string().as_str() {
            "f32" => Some(DType::F32),
            "u32" => Some(DType::U32),
            other => {
                self.errors.push(&input.elem, format!("inputs hold `f32` features or `u32` ids, not `{other}`"));
                None
            }
        };
        let shape: Vec<Size> = input.dims.iter().filter_map(|dim| self.dimension(dim)).collect();
        let ty = dtype.filter(|_| shape.len() == input.dims.len()).map(|dtype| TensorType { dtype, shape });
        let id = self.tensors.len();
        if self.define(&input.name, Binding::Tensor(Some(id))) {
            self.tensors.push((input.name.clone(), ty, None));
            self.shown.push(format!("`{}`", input.name));
            self.inputs.push(id);
        }
    }

    fn let_stmt(&mut self, stmt: &LetStmt) {
        if let Some(custom) = &stmt.custom {
            self.custom_call(stmt, custom);
            return;
        }
        if let Some(declared) = &stmt.declared {
            self.errors.push_at(
                declared.bracket.span.join(),
                "an output shape is declared only for `custom(…)` layers; other layers infer theirs",
            );
        }
        let callee = stmt.callee.to_string();
        match self.names.get(&callee).copied() {
            Some(Binding::Layer(layer)) => {
                // `let y = shared(x);` — the parenthesized group holds tensors.
                if let Some(tensors) = &stmt.tensors {
                    self.errors
                        .push(tensors, format!("`{callee}` is already a layer; call it on tensors: `{callee}(x)`"));
                }
                let tensors = self.tensor_args(stmt);
                self.call(layer, tensors, stmt);
                return;
            }
            Some(Binding::Unknown) => {
                self.define(&stmt.name, Binding::Unknown);
                return;
            }
            Some(Binding::Tensor(_)) => {
                self.errors.push(&stmt.callee, format!("`{callee}` is a tensor, not a layer"));
                self.define(&stmt.name, Binding::Tensor(None));
                return;
            }
            None => {}
        }
        if layers::is_op(&callee) {
            self.op_call(stmt);
            return;
        }
        let mut args = ArgReader::new(stmt, &mut self.errors);
        let explicit_name = args.string("name");
        let declared_input = args.input_declaration(callee == "Embedding");
        let Some((spec, recorded)) = layers::configure(stmt, args) else {
            let bound: Vec<String> =
                self.names.iter().filter(|(_, b)| matches!(b, Binding::Layer(_))).map(|(n, _)| n.clone()).collect();
            let bound: Vec<&str> = bound.iter().map(String::as_str).collect();
            self.errors.push(&stmt.callee, layers::unknown_layer(&callee, &bound));
            self.define(&stmt.name, Binding::Unknown);
            return;
        };
        let id = self.layers.len();
        match &stmt.tensors {
            None => {
                if let Ok(Some((_, at))) = declared_input {
                    let message = "the input's shape is declared on a layer applied on its line \
                                   (`Dense(64, input_dim = 20)(x)`); a bound layer takes its shape from its first call";
                    self.errors.push(at, message);
                }
                self.layers.push(PendingLayer {
                    field: stmt.name.clone(),
                    explicit_name: explicit_name.or_else(|| Some(stmt.name.to_string())),
                    spec,
                    args: recorded,
                    types: None,
                    nodes: Vec::new(),
                    first_call: Default::default(),
                    binding: Some(stmt.name.clone()),
                });
                if !self.define(&stmt.name, Binding::Layer(Some(id))) {
                    // Reported as a duplicate; not also "never called".
                    self.layers[id].binding = None;
                }
            }
            Some(tensors) => {
                self.layers.push(PendingLayer {
                    field: stmt.name.clone(), // replaced by the Keras name in `finish`
                    explicit_name,
                    spec,
                    args: recorded,
                    types: None,
                    nodes: Vec::new(),
                    first_call: Default::default(),
                    binding: None,
                });
                match (declared_input, tensors.len()) {
                    (Ok(Some((ty, at))), 1) => self.declared_input(&tensors[0], ty, &at),
                    // Several tensors: the layer's arity error says it.
                    (Ok(Some(_)), _) => {}
                    // A wrong declaration is reported; the tensor it would
                    // have declared is then not reported as missing.
                    (Err(()), _) => {
                        for t in tensors {
                            self.names.entry(t.to_string()).or_insert(Binding::Unknown);
                        }
                    }
                    (Ok(None), _) => {}
                }
                let tensors = tensors.iter().map(|t| self.resolve(t)).collect();
                self.call(Some(id), tensors, stmt);
            }
        }
    }

    /// Keras's `input_shape = (20,)` / `input_dim = 20` / `input_length = 16`
    /// on a layer applied to `tensor`: a tensor not defined yet becomes a
    /// model input of that type (as Keras's first layer creates its
    /// `Input`); a model input must already have that type.
    fn declared_input(&mut self, tensor: &Ident, ty: TensorType, at: &Expr) {
        let key = tensor.to_string();
        match self.names.get(&key).copied() {
            // Not bound yet (even if a later line binds the name, as in
            // `let x = Dense(8, input_dim = 4)(x);`): a new input.
            None => {
                let id = self.tensors.len();
                self.names.insert(key, Binding::Tensor(Some(id)));
                self.tensors.push((tensor.clone(), Some(ty), None));
                self.shown.push(format!("`{tensor}`"));
                self.inputs.push(id);
            }
            Some(Binding::Tensor(Some(id))) if self.inputs.contains(&id) => {
                let Some(actual) = self.tensors[id].1.clone() else { return };
                let agreement =
                    if actual.dtype == ty.dtype { agree(&ty.shape, &actual.shape) } else { Agreement::Differ };
                if let Agreement::Maybe(pairs) = agreement {
                    let mut message = vec![Piece::Text("this declares the input as ".into())];
                    message.extend(shape_pieces(&ty.shape));
                    message.push(Piece::Text(format!(", but `{tensor}` is declared as ")));
                    message.extend(shape_pieces(&actual.shape));
                    message.push(Piece::Text("; keep one of them".into()));
                    let check = Deferred::equal(&pairs, message);
                    self.errors.deferred.push((syn::spanned::Spanned::span(at), check));
                } else if matches!(agreement, Agreement::Differ) {
                    let describe = |t: &TensorType| format!("{} {}", t.elem_tokens(), t.shape_str());
                    let message = format!(
                        "this declares the input as {}, but `{tensor}` is declared as {}; keep one of them",
                        describe(&ty),
                        describe(&actual)
                    );
                    self.errors.push(at, message);
                }
            }
            Some(Binding::Tensor(Some(_))) => {
                self.errors.push(at, format!("`{tensor}` is not a model input; the input's shape is declared only on a layer reading a model input"));
            }
            // An undefined-later or erroneous name is reported where it is resolved.
            _ => {}
        }
    }

    /// `let y: [64] = custom(MyLayer::new(…))(x);`
    fn custom_call(&mut self, stmt: &LetStmt, custom: &crate::parse::Custom) {
        let ty = match &custom.ty {
            Some(ty) => Some((quote::ToTokens::to_token_stream(ty), layers::custom::type_name(ty))),
            None => layers::custom::type_of_constructor(&custom.expr),
        };
        let Some((ty, name)) = ty else {
            self.errors.push(&custom.expr, "cannot tell this layer's type; write `custom::<MyLayer>(…)`");
            self.define(&stmt.name, Binding::Unknown);
            return;
        };
        let Some(declared) = &stmt.declared else {
            self.errors.push(
                &stmt.name,
                format!("a custom layer needs its output shape on the line: `let {}: [64] = custom(…)(x);`", stmt.name),
            );
            self.define(&stmt.name, Binding::Unknown);
            return;
        };
        let shape: Vec<Size> = declared.dims.iter().filter_map(|dim| self.dimension(dim)).collect();
        let prefix = snake(&name);
        // A wrong dimension leaves the output shape unknown (nothing
        // downstream is checked) rather than guessed.
        let spec: Box<dyn Spec> = if shape.len() == declared.dims.len() {
            Box::new(layers::custom::CustomSpec {
                ty,
                expr: quote::ToTokens::to_token_stream(&custom.expr),
                output: TensorType::f32(shape),
                prefix,
            })
        } else {
            Box::new(layers::Invalid)
        };
        let id = self.layers.len();
        let binding = stmt.tensors.is_none().then(|| stmt.name.clone());
        self.layers.push(PendingLayer {
            field: stmt.name.clone(),
            explicit_name: binding.as_ref().map(Ident::to_string),
            spec,
            args: Vec::new(),
            types: None,
            nodes: Vec::new(),
            first_call: Default::default(),
            binding,
        });
        match &stmt.tensors {
            Some(tensors) => {
                let tensors = tensors.iter().map(|t| self.resolve(t)).collect();
                self.call(Some(id), tensors, stmt);
            }
            None => {
                self.define(&stmt.name, Binding::Layer(Some(id)));
            }
        }
    }

    /// `let y = reduce_sum(x, axis = 1);`: an operation written as a
    /// function of its input tensor, which becomes a parameterless layer.
    fn op_call(&mut self, stmt: &LetStmt) {
        let mut args = ArgReader::new(stmt, &mut self.errors);
        let has_positional = stmt.args.iter().any(|a| matches!(a, Arg::Positional(_)));
        let tensors: Option<Vec<Ident>> = args.tensors().map(|v| v.into_iter().cloned().collect());
        let explicit_name = args.string("name");
        let (spec, recorded) = layers::configure(stmt, args).expect("operations are known kinds");
        // A call of the wrong form is one mistake: reported once, and the
        // name it defines passes silently afterwards.
        let callee = &stmt.callee;
        let tensors = match (&stmt.tensors, has_positional, tensors) {
            (Some(group), _, _) => {
                self.errors.push(group, format!("`{callee}` is a function of tensors: write `{callee}(x, …)`"));
                None
            }
            (None, false, _) => {
                self.errors.push(callee, format!("`{callee}` needs its input tensor(s) as the first argument"));
                None
            }
            (None, true, tensors) => tensors, // `None`: reported by `ArgReader::tensors`
        };
        let Some(tensors) = tensors else {
            self.define(&stmt.name, Binding::Unknown);
            return;
        };
        let inputs: Vec<Option<usize>> = tensors.iter().map(|t| self.resolve(t)).collect();
        let mut seen = HashSet::new();
        for (ident, id) in tensors_of(stmt).iter().zip(&inputs) {
            if let Some(id) = id {
                if !seen.insert(*id) {
                    self.errors.push(ident, format!("`{ident}` is listed twice; a merge reads each tensor once"));
                }
            }
        }
        let id = self.layers.len();
        self.layers.push(PendingLayer {
            field: stmt.name.clone(),
            explicit_name,
            spec,
            args: recorded,
            types: None,
            nodes: Vec::new(),
            first_call: Default::default(),
            binding: None,
        });
        self.call(Some(id), inputs, stmt);
    }

    /// The tensors of `shared(a, b)`, written where layer arguments would be.
    fn tensor_args(&mut self, stmt: &LetStmt) -> Vec<Option<usize>> {
        let mut out = Vec::new();
        for arg in &stmt.args {
            match arg {
                Arg::Positional(Expr::Path(p)) if p.path.get_ident().is_some() => {
                    let ident = p.path.get_ident().cloned();
                    out.push(ident.and_then(|i| self.resolve(&i)));
                }
                Arg::Positional(expr) | Arg::Named { value: expr, .. } => {
                    self.errors.push(expr, "expected a tensor name");
                    out.push(None);
                }
            }
        }
        out
    }

    fn resolve(&mut self, name: &Ident) -> Option<usize> {
        match self.names.get(&name.to_string()) {
            Some(Binding::Tensor(id)) => *id,
            Some(Binding::Unknown) => None,
            Some(Binding::Layer(_)) => {
                self.errors.push(name, format!("`{name}` is a layer, not a tensor"));
                None
            }
            None if self.defined_later.contains(&name.to_string()) => {
                self.errors.push(name, format!("`{name}` is used before it is defined"));
                None
            }
            None => {
                let tensors: Vec<&str> = self
                    .names
                    .iter()
                    .filter(|(_, b)| matches!(b, Binding::Tensor(_)))
                    .map(|(n, _)| n.as_str())
                    .collect();
                let hint = crate::errors::nearest(&name.to_string(), tensors)
                    .map(|near| format!("; did you mean `{near}`?"))
                    .unwrap_or_default();
                self.errors.push(name, format!("cannot find tensor `{name}` in this model{hint}"));
                None
            }
        }
    }

    /// Applies layer `layer` to `inputs`, defining `stmt.name`.
    fn call(&mut self, layer: Option<usize>, inputs: Vec<Option<usize>>, stmt: &LetStmt) {
        let output = self.apply(layer, &inputs, stmt);
        let id = self.tensors.len();
        let Some(ident) = self.bind_tensor(&stmt.name, id) else {
            return;
        };
        let producer = match (layer, output.is_some()) {
            (Some(layer), true) => {
                let node = self.nodes.len();
                let inputs = inputs.into_iter().flatten().collect();
                self.nodes.push(Node { layer, inputs, output: id });
                self.layers[layer].nodes.push(node);
                Some(node)
            }
            _ => None,
        };
        self.tensors.push((ident, output, producer));
        self.shown.push(stmt.shown.clone().unwrap_or_else(|| format!("`{}`", stmt.name)));
    }

    /// Type-checks one call; `None` when anything about it is wrong.
    fn apply(&mut self, layer: Option<usize>, inputs: &[Option<usize>], stmt: &LetStmt) -> Option<TensorType> {
        let layer = layer?;
        let mut known = Vec::new();
        for input in inputs {
            let (ident, ty, _) = &self.tensors[(*input)?];
            known.push((ident.clone(), ty.clone()?, self.shown[(*input)?].clone()));
        }
        let first_arg = stmt.args.iter().find_map(|a| match a {
            Arg::Positional(e) => Some(quote::ToTokens::to_token_stream(e)),
            _ => None,
        });
        let at = match (self.layers[layer].spec.is_merge(), known.first(), first_arg) {
            (true, _, Some(list)) => list,
            (_, Some((ident, _, _)), _) => self.input_token(stmt, ident),
            _ => quote::ToTokens::to_token_stream(&stmt.callee),
        };
        let types: Vec<TensorType> = known.iter().map(|(_, t, _)| t.clone()).collect();
        let listed = |tensors: &[(TensorType, String)]| {
            tensors.iter().map(|(t, shown)| format!("{shown} {}", t.shape_str())).collect::<Vec<_>>().join(", ")
        };
        let here: Vec<(TensorType, String)> = known.iter().map(|(_, t, s)| (t.clone(), s.clone())).collect();
        let pending = &mut self.layers[layer];
        if let Some((first_in, first_out)) = &pending.types {
            // A later call of a shared layer: its inputs must be the first's.
            let mut differ = first_in.len() != types.len();
            let mut pairs = Vec::new();
            for (first, now) in first_in.iter().zip(&types) {
                differ |= first.dtype != now.dtype;
                match agree(&now.shape, &first.shape) {
                    Agreement::Same => {}
                    Agreement::Differ => differ = true,
                    Agreement::Maybe(more) => pairs.extend(more),
                }
            }
            if !differ && !pairs.is_empty() {
                let (first_reads, first_makes) = &pending.first_call;
                let mut message = vec![Piece::Text(format!("layer `{}` is called here on ", pending.field))];
                for (i, (t, shown)) in here.iter().enumerate() {
                    message.push(Piece::Text(format!("{}{shown} ", if i > 0 { ", " } else { "" })));
                    message.extend(shape_pieces(&t.shape));
                }
                message.push(Piece::Text(format!(", but its first call (making {first_makes}) was on ")));
                for (i, (t, shown)) in first_reads.iter().enumerate() {
                    message.push(Piece::Text(format!("{}{shown} ", if i > 0 { ", " } else { "" })));
                    message.extend(shape_pieces(&t.shape));
                }
                message.push(Piece::Text("; a shared layer needs the same input shape at every call".into()));
                let span = syn::spanned::Spanned::span(&at);
                self.errors.deferred.push((span, Deferred::equal(&pairs, message)));
            }
            if !differ {
                return Some(first_out.clone());
            }
            {
                // Both call sites, each named by the tensors it reads and defines.
                let (first_reads, first_makes) = &pending.first_call;
                let message = format!(
                    "layer `{}` is called here on {}, but its first call (making {first_makes}) was on {}; \
                     a shared layer needs the same input shape at every call",
                    pending.field,
                    listed(&here),
                    listed(first_reads),
                );
                self.errors.push(at, message);
                return None;
            }
        }
        let names: Vec<String> = known.iter().map(|(_, _, shown)| shown.clone()).collect();
        let described: Vec<(&TensorType, &str)> = types.iter().zip(&names).map(|(t, n)| (t, n.as_str())).collect();
        match pending.spec.infer(&described) {
            Ok(out) => {
                let span = syn::spanned::Spanned::span(&at);
                let deferred = pending.spec.deferred(&described);
                self.errors.deferred.extend(deferred.into_iter().map(|check| (span, check)));
                let pending = &mut self.layers[layer];
                pending.types = Some((types, out.clone()));
                pending.first_call = (here, stmt.shown.clone().unwrap_or_else(|| format!("`{}`", stmt.name)));
                Some(out)
            }
            Err(error) if error.message.is_empty() => None, // already reported
            Err(error) => {
                let blamed = error.argument.and_then(|name| argument(stmt, name, error.position));
                match blamed {
                    Some(expr) => self.errors.push(expr, error.message),
                    None => self.errors.push(at, error.message),
                }
                None
            }
        }
    }

    /// The token naming `ident` as an input of `stmt`, for the smallest error span.
    fn input_token(&self, stmt: &LetStmt, ident: &Ident) -> proc_macro2::TokenStream {
        let found = stmt.tensors.iter().flatten().find(|t| *t == ident).map(quote::ToTokens::to_token_stream);
        found.unwrap_or_else(|| {
            stmt.args
                .iter()
                .find_map(|a| match a {
                    Arg::Positional(e @ Expr::Path(p)) if p.path.is_ident(ident) => {
                        Some(quote::ToTokens::to_token_stream(e))
                    }
                    _ => None,
                })
                .unwrap_or_else(|| quote::ToTokens::to_token_stream(ident))
        })
    }

    fn output(&mut self, names: &[Ident]) {
        for name in names {
            if let Some(id) = self.resolve(name) {
                if self.outputs.iter().any(|(o, _)| *o == id) {
                    self.errors.push(name, format!("`{name}` is already an output"));
                } else if self.tensors[id].2.is_none() && self.inputs.contains(&id) {
                    self.errors.push(name, format!("`{name}` is an input; an output must be computed by a layer"));
                } else {
                    self.outputs.push((id, name.clone()));
                }
            }
        }
    }

    fn check_whole_graph(&mut self) {
        let has_output_stmt = self.def.stmts.iter().any(|s| matches!(s, Stmt::Output(_)));
        if !has_output_stmt {
            self.errors.push_at(
                self.def.body_span,
                format!("model `{}` has no `output`; add `output <tensor>;`", self.def.name),
            );
        }
        // Unused tensors: everything must lead to an output. Checked only on
        // an otherwise correct graph: a failed call would make its inputs
        // look unused.
        let mut live: HashSet<usize> = self.outputs.iter().map(|(o, _)| *o).collect();
        for node in self.nodes.iter().rev() {
            if live.contains(&node.output) {
                live.extend(node.inputs.iter().copied());
            }
        }
        if self.errors.is_empty() {
            for (id, (ident, _, _)) in self.tensors.iter().enumerate() {
                if live.contains(&id) {
                    continue;
                }
                let shown = &self.shown[id];
                let message = if self.inputs.contains(&id) {
                    format!("input {shown} is never used; feed it to a layer or remove it")
                } else {
                    format!("{shown} is never used; use it or make it an `output`")
                };
                self.errors.push(ident, message);
            }
        }
        for layer in &self.layers {
            if let (Some(binding), true) = (&layer.binding, layer.nodes.is_empty()) {
                self.errors.push(binding, format!("layer `{binding}` is never called"));
            }
        }
    }

    fn finish(mut self) -> syn::Result<Graph> {
        self.errors.finish()?;
        let mut taken: HashSet<String> = self.layers.iter().filter_map(|l| l.explicit_name.clone()).collect();
        taken.extend(self.tensors.iter().filter(|t| t.2.is_none()).map(|t| t.0.to_string()));
        let mut layers = Vec::new();
        for pending in self.layers {
            let keras_name = pending.explicit_name.unwrap_or_else(|| {
                let prefix = pending.spec.name_prefix();
                let name = (0..)
                    .map(|i| if i == 0 { prefix.to_string() } else { format!("{prefix}_{i}") })
                    .find(|n| !taken.contains(n))
                    .unwrap_or_default();
                taken.insert(name.clone());
                name
            });
            let field = if pending.binding.is_some() {
                pending.field
            } else {
                Ident::new(&rust_ident(&keras_name), pending.field.span())
            };
            let (inputs, output) = pending.types.expect("a called layer has types");
            layers.push(LayerInfo {
                field,
                keras_name,
                spec: pending.spec,
                args: pending.args,
                inputs,
                output,
                nodes: pending.nodes,
            });
        }
        let tensors = self
            .tensors
            .into_iter()
            .map(|(ident, ty, producer)| Tensor { ident, ty: ty.expect("checked"), producer })
            .collect();
        Ok(Graph {
            inputs: self.inputs,
            outputs: self.outputs.into_iter().map(|(o, _)| o).collect(),
            tensors,
            layers,
            nodes: self.nodes,
            deferred: std::mem::take(&mut self.errors.deferred),
        })
    }
}

/// The tensor names listed in an operation's first argument.
fn tensors_of(stmt: &LetStmt) -> Vec<Ident> {
    let first = stmt.args.iter().find_map(|a| match a {
        Arg::Positional(e) => Some(e),
        _ => None,
    });
    let name = |e: &Expr| match e {
        Expr::Path(p) => p.path.get_ident().cloned(),
        _ => None,
    };
    match first {
        Some(Expr::Array(list)) => list.elems.iter().filter_map(name).collect(),
        Some(e) => name(e).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The value of argument `name` in `stmt`, given by keyword or as the
/// `position`-th positional argument.
fn argument<'s>(stmt: &'s LetStmt, name: &str, position: Option<usize>) -> Option<&'s Expr> {
    let named = stmt.args.iter().find_map(|a| match a {
        Arg::Named { name: n, value } if n == name => Some(value),
        _ => None,
    });
    let positional = || {
        let mut positionals = stmt.args.iter().filter_map(|a| match a {
            Arg::Positional(value) => Some(value),
            Arg::Named { .. } => None,
        });
        positionals.nth(position?)
    };
    named.or_else(positional)
}

/// `MyLayer` → `my_layer` (Keras's automatic names for a class).
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().filter(|c| c.is_alphanumeric() || *c == '_').enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A Keras layer name as a Rust field name (`lstm-encoder` → `lstm_encoder`).
fn rust_ident(name: &str) -> String {
    let mut s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}
