//! Generates the model struct, its workspace and `impl Network` (this
//! file), the batched passes (`passes.rs`: forward, the backward pass in
//! reverse topological order with gradients summed at fan-out and
//! parameter gradients accumulated over a shared layer's calls),
//! one-sample inference and `impl Layer` (`inference.rs`), `summary()`
//! (`summary.rs`) and `to_json()` (`keras_json.rs`).

use crate::graph::Graph;
use crate::layers::DType;
use crate::parse::ModelDef;
use crate::size::{shape_pieces, Deferred, Piece, Size};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

mod inference;
mod keras_json;
mod passes;
mod quant;
mod summary;

pub fn expand(def: &ModelDef, graph: &Graph) -> TokenStream {
    let gen = Gen::new(def, graph);
    let name = &def.name;
    let vis = &def.vis;
    let attrs = &def.attrs;
    let ws = format_ident!("{}Workspace", name);

    let fields = graph.layers.iter().map(|l| {
        let (field, ty) = (&l.field, gen.layer_type(l));
        let doc = format!("Layer `{}` (Keras `{}`).", l.keras_name, l.spec.keras_type());
        quote!(#[doc = #doc] pub #field: #ty,)
    });
    let inits = graph.layers.iter().map(|l| {
        let field = &l.field;
        let ctor = l.spec.constructor(&l.inputs, &l.output);
        quote!(#field: #ctor,)
    });
    // Built-in layers' types carry the inferred lengths by construction;
    // a user's type (`custom`) is checked against its line here.
    let length_checks = graph.layers.iter().filter(|l| l.spec.is_custom()).map(|l| {
        let ty = gen.layer_type(l);
        let (i, o) = (Size::sum(l.inputs.iter().map(|t| t.len()).collect::<Vec<_>>().iter()), l.output.len());
        let span = l.field.span();
        // Named as the user wrote them: the type, and the call's tensors.
        let type_name = ty.to_string().replace(' ', "");
        let node = &graph.nodes[l.nodes[0]];
        let made = &graph.tensors[node.output].ident;
        let read = node.inputs.first().map(|&t| graph.tensors[t].ident.to_string()).unwrap_or_default();
        let out_len = Size::Expr(quote!(<#ty as ::kiln::__private::Layer>::OUTPUT_LEN), "OUTPUT_LEN".into());
        let in_len = Size::Expr(quote!(<#ty as ::kiln::__private::Layer>::INPUT_LEN), "INPUT_LEN".into());
        let mut out_message = vec![Piece::Text(format!("`{type_name}` outputs ")), Piece::Value(out_len.clone())];
        out_message.push(Piece::Text(format!(" values per sample, but the line of `{made}` declares ")));
        out_message.extend(shape_pieces(&l.output.shape));
        out_message.extend([Piece::Text(" (".into()), Piece::Value(o.clone()), Piece::Text(" values)".into())]);
        let mut in_message = vec![Piece::Text(format!("`{type_name}` reads ")), Piece::Value(in_len.clone())];
        in_message.push(Piece::Text(format!(" values per sample, but its input `{read}` is ")));
        in_message.extend(l.inputs.first().map(|t| shape_pieces(&t.shape)).unwrap_or_default());
        in_message.extend([Piece::Text(" (".into()), Piece::Value(i.clone()), Piece::Text(" values)".into())]);
        let out_check = Deferred::equal(&[(out_len, o)], out_message).tokens(span);
        let in_check = Deferred::equal(&[(in_len, i)], in_message).tokens(span);
        quote!(#out_check #in_check)
    });
    let deferred = graph.deferred.iter().map(|(span, check)| check.tokens(*span));

    let input_types: Vec<TokenStream> = graph.inputs.iter().map(|&i| graph.tensors[i].ty.rust_type()).collect();
    let output_types: Vec<TokenStream> = graph.outputs.iter().map(|&o| graph.tensors[o].ty.rust_type()).collect();
    let input_set = tuple_or_single(&input_types);
    let output_set = tuple_or_single(&output_types);
    let x_names: Vec<Ident> = (0..graph.inputs.len()).map(|i| format_ident!("__x{}", i)).collect();
    let unpack_x = if x_names.len() == 1 {
        let x0 = &x_names[0];
        quote!(let #x0 = x;)
    } else {
        quote!(let (#(#x_names),*) = x;)
    };
    let output_arms = graph.outputs.iter().enumerate().map(|(i, &o)| {
        let t = &graph.tensors[o];
        let (v, g, len) = (value_field(&t.ident), grad_field(&t.ident), t.ty.len());
        quote!(#i => (&ws.#v[..batch * #len], &mut ws.#g[..batch * #len]),)
    });
    let buffer_arms = graph.outputs.iter().enumerate().filter_map(|(i, &o)| {
        let node = graph.tensors[o].producer?;
        gen.logit_output(node)?;
        let t = &graph.tensors[o];
        let (v, g, len) = (value_field(&t.ident), grad_field(&t.ident), t.ty.len());
        let (z, act, flag) = logit_fields(i);
        Some(quote! {
            #i if ws.#act != ::kiln::activations::Activation::Linear => ::kiln::network::OutputBuffers {
                value: &ws.#v[..batch * #len],
                grad: &mut ws.#g[..batch * #len],
                logits: ::core::option::Option::Some(::kiln::network::Logits {
                    activation: ws.#act,
                    values: &ws.#z[..batch * #len],
                    grad_is_logits: &mut ws.#flag,
                }),
            },
        })
    });
    let output_names: Vec<String> = graph.outputs.iter().map(|&o| gen.producer_name(o)).collect();

    let param_fields: Vec<&Ident> = graph.layers.iter().filter(|l| !l.spec.is_merge()).map(|l| &l.field).collect();
    let param_layer_names: Vec<&str> =
        graph.layers.iter().filter(|l| !l.spec.is_merge()).map(|l| l.keras_name.as_str()).collect();
    let ws_fields = gen.workspace_fields();
    let ws_inits = gen.workspace_inits();
    let forward = gen.forward();
    let backward = gen.backward();
    let activity_penalty = gen.has_activity_regularizers().then(|| {
        quote! {
            fn activity_penalty(ws: &#ws) -> f32 {
                ws.__ctx.activity_penalty
            }
        }
    });
    let activity_checks = gen.activity_regularizer_checks();
    let scratch = format_ident!("{}OneSample", name);
    let predict_one = gen.predict_one(inference::Storage::Stack);
    let predict_one_scratch = gen.predict_one(inference::Storage::Scratch(&scratch));
    let id_checks = gen.id_checks();
    let fallible = !id_checks.is_empty();
    let input_args: Vec<TokenStream> = graph
        .inputs
        .iter()
        .map(|&i| {
            let t = &graph.tensors[i];
            let (ident, ty) = (&t.ident, t.ty.rust_type());
            quote!(#ident: &#ty)
        })
        .collect();
    let input_idents: Vec<&Ident> = graph.inputs.iter().map(|&i| &graph.tensors[i].ident).collect();
    let flat_inputs = graph.inputs.iter().zip(&x_names).map(|(&i, x)| {
        let ident = &graph.tensors[i].ident;
        quote!(let #x = ::kiln::sample::flatten_one(#ident);)
    });
    let flat_inputs = quote!(#(#flat_inputs)*);
    let call_args: Vec<TokenStream> = if graph.inputs.len() == 1 {
        vec![quote!(x)]
    } else {
        (0..graph.inputs.len())
            .map(|i| {
                let i = syn::Index::from(i);
                quote!(&x.#i)
            })
            .collect()
    };
    let (predict_sig, predict_body, predict_with_body, try_predict) = if fallible {
        (
            quote!(::core::result::Result<#output_set, ::kiln::Error>),
            quote! {
                #flat_inputs
                #(#id_checks)*
                ::core::result::Result::Ok({ #predict_one })
            },
            quote! {
                #flat_inputs
                #(#id_checks)*
                ::core::result::Result::Ok({ #predict_one_scratch })
            },
            quote!(#name::predict_one(self, #(#call_args),*)),
        )
    } else {
        (
            quote!(#output_set),
            quote! {
                #flat_inputs
                #predict_one
            },
            quote! {
                #flat_inputs
                #predict_one_scratch
            },
            quote!(::core::result::Result::Ok(#name::predict_one(self, #(#call_args),*))),
        )
    };
    let on_stack = gen.one_sample_on_stack();
    let predict_body = if on_stack {
        predict_body
    } else {
        Gen::with_thread_scratch(&scratch, quote!(#name::predict_one_with(self, __scratch, #(#input_idents),*)))
    };
    let ids_doc = if fallible { " An id beyond an `Embedding`'s `input_dim` is an error." } else { "" };
    let predict_doc = if on_stack {
        format!("Runs the model on one sample without touching the heap; its activations live on the stack.{ids_doc}")
    } else {
        format!(
            "Runs the model on one sample. Its activations exceed {} KiB, too many for a thread's stack, so they live \
             in a [`{scratch}`] that each thread allocates on its first call and reuses until it exits; \
             [`{name}::predict_one_with`] takes a caller-owned one and never allocates.{ids_doc}",
            inference::STACK_LIMIT / 1024
        )
    };
    let predict_with_doc = format!(
        "Runs the model on one sample with its activations in `__scratch`, without touching the heap \
         or much stack (for any model size; same values as `predict_one`).{ids_doc}"
    );
    let one_sample = gen.one_sample_type(vis, name, &scratch);
    let summary = gen.summary(def);
    let keras_json = gen.keras_json(def);
    let as_layer = gen.as_layer(name, &ws, &scratch);
    let int8 = gen.int8(def);
    let doc_ws = format!("Buffers for a batch of [`{name}`]: activations, gradients, layer caches.");
    let ctor_doc = format!(
        "Builds `{name}` with Keras's default initializers, drawing from a ChaCha8 generator seeded with `seed` (same seed, same weights)."
    );

    quote! {
        #(#attrs)*
        #vis struct #name {
            #(#fields)*
        }

        #[doc = #doc_ws]
        #[doc(hidden)]
        #[allow(non_snake_case)] // fields are named after the user's tensors
        #vis struct #ws {
            __capacity: usize,
            __ctx: ::kiln::__private::Ctx,
            #(#ws_fields)*
        }

        #(#length_checks)*
        #(#deferred)*

        #one_sample

        #[automatically_derived]
        impl #name {
            #[doc = #ctor_doc]
            #vis fn new(seed: u64) -> Self {
                let mut __rng = ::kiln::__private::seeded_rng(seed);
                #name { #(#inits)* }
            }

            #[doc = #predict_doc]
            #[allow(non_snake_case)]
            #vis fn predict_one(&self, #(#input_args),*) -> #predict_sig {
                #predict_body
            }

            #[doc = #predict_with_doc]
            #[allow(non_snake_case)]
            #vis fn predict_one_with(&self, __scratch: &mut #scratch, #(#input_args),*) -> #predict_sig {
                #predict_with_body
            }

            /// The layer table Keras's `model.summary()` prints.
            #vis fn summary(&self) -> ::kiln::summary::Summary {
                #summary
            }

            /// The architecture as Keras 3's model config (`model.to_json()`):
            /// `keras.models.model_from_json` rebuilds the model from it (the
            /// weights go in a weights file: `kiln::io::save_weights`). An error
            /// naming the layer when a layer has no Keras class (`reduce_sum`,
            /// `custom(…)`).
            #vis fn to_json(&self) -> ::kiln::Result<::std::string::String> {
                ::core::result::Result::Ok(::kiln::json::to_string(&#name::to_json_value(self)?))
            }

            /// [`to_json`](Self::to_json) as a JSON value.
            #vis fn to_json_value(&self) -> ::kiln::Result<::kiln::json::Value> {
                #keras_json
            }
        }

        #[automatically_derived]
        #[allow(non_snake_case)]
        impl ::kiln::network::Network for #name {
            type Input = #input_set;
            type Output = #output_set;
            type Workspace = #ws;

            fn output_names(&self) -> ::std::vec::Vec<&'static str> {
                ::std::vec![#(#output_names),*]
            }

            fn workspace(&self, capacity: usize) -> #ws {
                let capacity = capacity.max(1);
                #ws {
                    __capacity: capacity,
                    __ctx: ::kiln::__private::Ctx::new(0x6b696c6e),
                    #(#ws_inits)*
                }
            }

            fn capacity(ws: &#ws) -> usize {
                ws.__capacity
            }

            fn ctx(ws: &#ws) -> ::core::option::Option<&::kiln::__private::Ctx> {
                ::core::option::Option::Some(&ws.__ctx)
            }

            fn ctx_mut(ws: &mut #ws) -> ::core::option::Option<&mut ::kiln::__private::Ctx> {
                ::core::option::Option::Some(&mut ws.__ctx)
            }

            fn check_input(&self, x: <#input_set as ::kiln::sample::SampleSet>::Flat<'_>) -> ::kiln::Result<()> {
                #unpack_x
                #(#id_checks)*
                ::core::result::Result::Ok(())
            }

            fn forward(&self, ws: &mut #ws, x: <#input_set as ::kiln::sample::SampleSet>::Flat<'_>, batch: usize, training: bool) {
                ::core::assert!(batch <= ws.__capacity, "batch exceeds the workspace capacity");
                ws.__ctx.training = training;
                #unpack_x
                #forward
            }

            fn output_and_grad(ws: &mut #ws, index: usize, batch: usize) -> (&[f32], &mut [f32]) {
                match index {
                    #(#output_arms)*
                    _ => ::core::panic!("the model has no output {}", index),
                }
            }

            fn output_buffers(ws: &mut #ws, index: usize, batch: usize) -> ::kiln::network::OutputBuffers<'_> {
                match index {
                    #(#buffer_arms)*
                    _ => {
                        let (value, grad) = <Self as ::kiln::network::Network>::output_and_grad(ws, index, batch);
                        ::kiln::network::OutputBuffers { value, grad, logits: ::core::option::Option::None }
                    }
                }
            }

            #activity_penalty

            #activity_checks

            fn backward(&mut self, ws: &mut #ws, x: <#input_set as ::kiln::sample::SampleSet>::Flat<'_>, batch: usize) {
                ::core::assert!(batch <= ws.__capacity, "batch exceeds the workspace capacity");
                ::kiln::network::Network::visit_params(self, &mut |p| p.grad.fill(0.0));
                #unpack_x
                #backward
            }

            fn visit_params(&mut self, f: &mut dyn FnMut(&mut ::kiln::param::Param)) {
                #(::kiln::__private::Layer::visit_params(&mut self.#param_fields, f);)*
            }

            fn params(&self, f: &mut dyn FnMut(&::kiln::param::Param)) {
                #(::kiln::__private::Layer::params(&self.#param_fields, f);)*
            }

            fn param_paths(&self) -> ::std::vec::Vec<::std::string::String> {
                let mut paths = ::std::vec::Vec::new();
                #(::kiln::__private::Layer::param_paths(&self.#param_fields, #param_layer_names, &mut paths);)*
                paths
            }

            fn summary(&self) -> ::kiln::summary::Summary {
                #name::summary(self)
            }

            fn try_predict_one(&self, x: &#input_set) -> ::kiln::Result<#output_set> {
                #try_predict
            }
        }

        #as_layer

        #int8
    }
}

/// Emitted for a model with errors: the errors, and `Name` as a type
/// alias whose definition holds them. rustc reports each `compile_error!`
/// once and treats the alias as an erroneous type, which silences every
/// later error about code using it (`Name::new(42).compile(…)`), so each
/// mistake gives one error. (A unit struct instead made each use an
/// unrelated "no function `new`" error.) Only doc attributes are kept:
/// `#[derive]` cannot apply to an alias.
pub fn fallback(attrs: &[syn::Attribute], vis: &syn::Visibility, name: &Ident, error: &syn::Error) -> TokenStream {
    let docs = attrs.iter().filter(|a| a.path().is_ident("doc"));
    let errors = error.to_compile_error();
    let invalid = format_ident!("__{}HasErrors", name);
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #invalid<const N: usize>;
        #(#docs)*
        #vis type #name = #invalid<{ #errors 0 }>;
    }
}

/// `T` for one type, `(T0, T1, …)` for several.
fn tuple_or_single(types: &[TokenStream]) -> TokenStream {
    match types {
        [single] => single.clone(),
        many => quote!((#(#many),*)),
    }
}

fn value_field(tensor: &Ident) -> Ident {
    format_ident!("v_{}", tensor)
}

fn grad_field(tensor: &Ident) -> Ident {
    format_ident!("g_{}", tensor)
}

fn cache_field(node: usize) -> Ident {
    format_ident!("c_{}", node)
}

/// Workspace fields of output `o`'s logits: values, final activation, and
/// whether the loss wrote the gradient with respect to the logits.
fn logit_fields(o: usize) -> (Ident, Ident, Ident) {
    (format_ident!("__logits_{}", o), format_ident!("__activation_{}", o), format_ident!("__grad_is_logits_{}", o))
}

struct Gen<'a> {
    graph: &'a Graph,
    /// Tensors whose gradient is needed (a parameterized layer lies upstream).
    grad_flows: Vec<bool>,
    /// The same when the (float) model input needs its gradient too, as
    /// when the model is a layer of another model.
    grad_flows_from_input: Vec<bool>,
    /// `logit_outputs[node]`: the output index whose logits node `node`
    /// keeps (see [`Gen::logit_output`]).
    logit_outputs: Vec<Option<usize>>,
}

impl<'a> Gen<'a> {
    fn new(_def: &ModelDef, graph: &'a Graph) -> Self {
        let flows = |inputs_need_grad: bool| {
            let mut flows = vec![false; graph.tensors.len()];
            for &i in &graph.inputs {
                flows[i] = inputs_need_grad && graph.tensors[i].ty.dtype == DType::F32;
            }
            for node in &graph.nodes {
                let layer = &graph.layers[node.layer];
                flows[node.output] = layer.spec.has_params() || node.inputs.iter().any(|&i| flows[i]);
            }
            flows
        };
        let mut logit_outputs = vec![None; graph.nodes.len()];
        for (o, &t) in graph.outputs.iter().enumerate() {
            let tensor = &graph.tensors[t];
            let Some(node) = tensor.producer else { continue };
            let read_elsewhere = graph.nodes.iter().any(|n| n.inputs.contains(&t))
                || graph.outputs.iter().filter(|&&other| other == t).count() > 1;
            let spec = &graph.layers[graph.nodes[node].layer].spec;
            // An activity regularizer's gradient is with respect to the
            // output itself, so its layer keeps the plain path.
            let plain = spec.is_merge() || spec.activity_regularizer().is_some();
            if !plain && tensor.ty.shape.len() == 1 && !read_elsewhere {
                logit_outputs[node] = Some(o);
            }
        }
        Gen { graph, grad_flows: flows(false), grad_flows_from_input: flows(true), logit_outputs }
    }

    /// For an output produced by a layer (not a merge) of rank 1 that no
    /// other node reads, the workspace keeps the producing layer's logits
    /// (`Layer::forward_logits`) and its final activation, so a
    /// cross-entropy can work from the logits (Keras's `_keras_logits`);
    /// the loss then writes `∂L/∂logits` and the backward pass starts at
    /// `Layer::backward_logits`. Returns that output's index for `node`.
    fn logit_output(&self, node: usize) -> Option<usize> {
        self.logit_outputs[node]
    }

    fn layer_type(&self, layer: &crate::graph::LayerInfo) -> TokenStream {
        layer.spec.field_type(&layer.inputs, &layer.output)
    }

    fn is_input(&self, tensor: usize) -> bool {
        self.graph.tensors[tensor].producer.is_none()
    }

    /// The local holding model input `tensor`'s flat values (`__x0`, …).
    fn input_var(&self, tensor: usize) -> Ident {
        let index = self.graph.inputs.iter().position(|&i| i == tensor).unwrap_or(0);
        format_ident!("__x{}", index)
    }

    /// Keras's name of the layer producing `tensor` (an output's name in logs).
    fn producer_name(&self, tensor: usize) -> String {
        let g = self.graph;
        match g.tensors[tensor].producer {
            Some(node) => g.layers[g.nodes[node].layer].keras_name.clone(),
            None => g.tensors[tensor].ident.to_string(),
        }
    }

    fn has_grad_buffer(&self, tensor: usize) -> bool {
        self.grad_flows_from_input[tensor] || self.graph.outputs.contains(&tensor)
    }

    fn workspace_fields(&self) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for (id, t) in self.graph.tensors.iter().enumerate() {
            if self.is_input(id) {
                if self.has_grad_buffer(id) {
                    let g = grad_field(&t.ident);
                    out.push(quote!(#g: ::std::vec::Vec<f32>,));
                }
                continue;
            }
            let (v, elem) = (value_field(&t.ident), t.ty.elem_tokens());
            out.push(quote!(#v: ::std::vec::Vec<#elem>,));
            if self.has_grad_buffer(id) {
                let g = grad_field(&t.ident);
                out.push(quote!(#g: ::std::vec::Vec<f32>,));
            }
        }
        for (id, node) in self.graph.nodes.iter().enumerate() {
            let layer = &self.graph.layers[node.layer];
            if !layer.spec.is_merge() {
                let (c, ty) = (cache_field(id), self.layer_type(layer));
                out.push(quote!(#c: <#ty as ::kiln::__private::Layer>::Cache,));
            }
            if let Some(o) = self.logit_output(id) {
                let (z, act, flag) = logit_fields(o);
                out.push(quote! {
                    #z: ::std::vec::Vec<f32>,
                    #act: ::kiln::activations::Activation,
                    #flag: bool,
                });
            }
        }
        out
    }

    fn workspace_inits(&self) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for (id, t) in self.graph.tensors.iter().enumerate() {
            if self.is_input(id) {
                if self.has_grad_buffer(id) {
                    let (g, len) = (grad_field(&t.ident), t.ty.len());
                    out.push(quote!(#g: ::std::vec![0.0f32; capacity * #len],));
                }
                continue;
            }
            let (v, len) = (value_field(&t.ident), t.ty.len());
            let zero = match t.ty.dtype {
                DType::F32 => quote!(0.0f32),
                DType::U32 => quote!(0u32),
            };
            out.push(quote!(#v: ::std::vec![#zero; capacity * #len],));
            if self.has_grad_buffer(id) {
                let g = grad_field(&t.ident);
                out.push(quote!(#g: ::std::vec![0.0f32; capacity * #len],));
            }
        }
        for (id, node) in self.graph.nodes.iter().enumerate() {
            if !self.graph.layers[node.layer].spec.is_merge() {
                let c = cache_field(id);
                out.push(quote!(#c: ::core::default::Default::default(),));
            }
            if let Some(o) = self.logit_output(id) {
                let (z, act, flag) = logit_fields(o);
                let len = self.graph.tensors[node.output].ty.len();
                out.push(quote! {
                    #z: ::std::vec![0.0f32; capacity * #len],
                    #act: ::kiln::activations::Activation::Linear,
                    #flag: false,
                });
            }
        }
        out
    }

    /// `&x[..batch·len]` for an input, `&ws.v_t[..batch·len]` otherwise.
    fn value_slice(&self, tensor: usize) -> TokenStream {
        let t = &self.graph.tensors[tensor];
        let len = t.ty.len();
        if self.is_input(tensor) {
            let x = self.input_var(tensor);
            quote!(&#x[..batch * #len])
        } else {
            let v = value_field(&t.ident);
            quote!(&ws.#v[..batch * #len])
        }
    }
}

/// `TextClassifier` → `text_classifier`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
