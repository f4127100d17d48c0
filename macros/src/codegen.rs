//! Generates the model struct, its workspace, `forward`, the backward pass
//! (reverse topological order, gradients summed at fan-out, parameter
//! gradients accumulated over a shared layer's calls), `predict_one` and
//! `summary`.

use crate::graph::Graph;
use crate::layers::DType;
use crate::parse::ModelDef;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use std::collections::HashSet;
use syn::Ident;

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
        let ctor = l.spec.constructor(&l.input, &l.output);
        quote!(#field: #ctor,)
    });
    let length_checks = graph.layers.iter().map(|l| {
        let ty = gen.layer_type(l);
        let (i, o) = (l.input.len(), l.output.len());
        let span = l.field.span();
        quote_spanned! {span=>
            const _: () = ::core::assert!(
                <#ty as ::kiln::__private::Layer>::INPUT_LEN == #i && <#ty as ::kiln::__private::Layer>::OUTPUT_LEN == #o,
                "a layer's type does not have the shape its line declares"
            );
        }
    });

    let input = &graph.tensors[graph.inputs[0]];
    let output = &graph.tensors[graph.outputs[0]];
    let (in_ty, in_elem) = (input.ty.rust_type(), input.ty.elem_tokens());
    let out_ty = output.ty.rust_type();
    let (v_out, g_out, out_len) = (value_field(&output.ident), grad_field(&output.ident), output.ty.len());

    let field_list: Vec<&Ident> = graph.layers.iter().map(|l| &l.field).collect();
    let ws_fields = gen.workspace_fields();
    let ws_inits = gen.workspace_inits();
    let forward = gen.forward();
    let backward = gen.backward();
    let predict_one = gen.predict_one();
    let id_checks = gen.id_checks();
    let fallible = !id_checks.is_empty();
    let (predict_sig, predict_body, try_predict) = if fallible {
        (
            quote!(::core::result::Result<#out_ty, ::kiln::Error>),
            quote! {
                let x_flat = ::kiln::sample::flatten_one(x);
                #(#id_checks)*
                ::core::result::Result::Ok({ #predict_one })
            },
            quote!(#name::predict_one(self, x)),
        )
    } else {
        (quote!(#out_ty), predict_one, quote!(::core::result::Result::Ok(#name::predict_one(self, x))))
    };
    let predict_doc = if fallible {
        "Runs the model on one sample without touching the heap; an id beyond an `Embedding`'s `input_dim` is an error."
    } else {
        "Runs the model on one sample without touching the heap."
    };
    let summary = gen.summary(def);
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
        #vis struct #ws {
            __capacity: usize,
            __ctx: ::kiln::__private::Ctx,
            #(#ws_fields)*
        }

        #(#length_checks)*

        #[automatically_derived]
        impl #name {
            #[doc = #ctor_doc]
            #vis fn new(seed: u64) -> Self {
                let mut __rng = ::kiln::__private::seeded_rng(seed);
                #name { #(#inits)* }
            }

            #[doc = #predict_doc]
            #vis fn predict_one(&self, x: &#in_ty) -> #predict_sig {
                #predict_body
            }

            /// The layer table Keras's `model.summary()` prints.
            #vis fn summary(&self) -> ::kiln::summary::Summary {
                #summary
            }
        }

        #[automatically_derived]
        impl ::kiln::network::Network for #name {
            type Input = #in_ty;
            type Output = #out_ty;
            type Workspace = #ws;

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

            fn check_input(&self, x: &[#in_elem]) -> ::kiln::Result<()> {
                let x_flat = x;
                #(#id_checks)*
                ::core::result::Result::Ok(())
            }

            fn forward(&self, ws: &mut #ws, x: &[#in_elem], batch: usize, training: bool) {
                ::core::assert!(batch <= ws.__capacity, "batch exceeds the workspace capacity");
                ws.__ctx.training = training;
                #forward
            }

            fn output_and_grad(ws: &mut #ws, batch: usize) -> (&[f32], &mut [f32]) {
                (&ws.#v_out[..batch * #out_len], &mut ws.#g_out[..batch * #out_len])
            }

            fn backward(&mut self, ws: &mut #ws, x: &[#in_elem], batch: usize) {
                ::core::assert!(batch <= ws.__capacity, "batch exceeds the workspace capacity");
                ::kiln::network::Network::visit_params(self, &mut |p| p.grad.fill(0.0));
                #backward
            }

            fn visit_params(&mut self, f: &mut dyn FnMut(&mut ::kiln::param::Param)) {
                #(::kiln::__private::Layer::visit_params(&mut self.#field_list, f);)*
            }

            fn params(&self, f: &mut dyn FnMut(&::kiln::param::Param)) {
                #(::kiln::__private::Layer::params(&self.#field_list, f);)*
            }

            fn summary(&self) -> ::kiln::summary::Summary {
                #name::summary(self)
            }

            fn try_predict_one(&self, x: &#in_ty) -> ::kiln::Result<#out_ty> {
                #try_predict
            }
        }
    }
}

/// Emitted after errors so the user's other code still sees the type.
pub fn fallback(def: &ModelDef) -> TokenStream {
    let (attrs, vis, name) = (&def.attrs, &def.vis, &def.name);
    quote! {
        #(#attrs)*
        #vis struct #name;
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

struct Gen<'a> {
    graph: &'a Graph,
    /// Tensors whose gradient is needed (a parameterized layer lies upstream).
    grad_flows: Vec<bool>,
}

impl<'a> Gen<'a> {
    fn new(_def: &ModelDef, graph: &'a Graph) -> Self {
        let mut grad_flows = vec![false; graph.tensors.len()];
        for node in &graph.nodes {
            let layer = &graph.layers[node.layer];
            grad_flows[node.output] = layer.spec.has_params() || node.inputs.iter().any(|&i| grad_flows[i]);
        }
        Gen { graph, grad_flows }
    }

    fn layer_type(&self, layer: &crate::graph::LayerInfo) -> TokenStream {
        layer.spec.field_type(&layer.input, &layer.output)
    }

    fn is_input(&self, tensor: usize) -> bool {
        self.graph.tensors[tensor].producer.is_none()
    }

    fn has_grad_buffer(&self, tensor: usize) -> bool {
        self.grad_flows[tensor] || self.graph.outputs.contains(&tensor)
    }

    fn workspace_fields(&self) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for (id, t) in self.graph.tensors.iter().enumerate() {
            if self.is_input(id) {
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
            let c = cache_field(id);
            let ty = self.layer_type(&self.graph.layers[node.layer]);
            out.push(quote!(#c: <#ty as ::kiln::__private::Layer>::Cache,));
        }
        out
    }

    fn workspace_inits(&self) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for (id, t) in self.graph.tensors.iter().enumerate() {
            if self.is_input(id) {
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
        for id in 0..self.graph.nodes.len() {
            let c = cache_field(id);
            out.push(quote!(#c: ::core::default::Default::default(),));
        }
        out
    }

    /// `&x[..batch·len]` for an input, `&ws.v_t[..batch·len]` otherwise.
    fn value_slice(&self, tensor: usize) -> TokenStream {
        let t = &self.graph.tensors[tensor];
        let len = t.ty.len();
        if self.is_input(tensor) {
            quote!(&x[..batch * #len])
        } else {
            let v = value_field(&t.ident);
            quote!(&ws.#v[..batch * #len])
        }
    }

    fn forward(&self) -> TokenStream {
        let calls = self.graph.nodes.iter().enumerate().map(|(id, node)| {
            let layer = &self.graph.layers[node.layer];
            let field = &layer.field;
            let x = self.value_slice(node.inputs[0]);
            let out = &self.graph.tensors[node.output];
            let (v, len, c) = (value_field(&out.ident), out.ty.len(), cache_field(id));
            quote! {
                ::kiln::__private::Layer::forward(&self.#field, #x, &mut ws.#v[..batch * #len], batch, &mut ws.#c, &mut ws.__ctx);
            }
        });
        quote!(#(#calls)*)
    }

    fn backward(&self) -> TokenStream {
        // The loss writes the output's gradient; every other gradient
        // buffer is overwritten by its first consumer (in backward order)
        // and accumulated into by the rest.
        let mut written: HashSet<usize> = self.graph.outputs.iter().copied().collect();
        let mut calls = Vec::new();
        for (id, node) in self.graph.nodes.iter().enumerate().rev() {
            if !self.grad_flows[node.output] {
                continue;
            }
            let layer = &self.graph.layers[node.layer];
            let field = &layer.field;
            let input = node.inputs[0];
            let x = self.value_slice(input);
            let out = &self.graph.tensors[node.output];
            let (v, g, len, c) = (value_field(&out.ident), grad_field(&out.ident), out.ty.len(), cache_field(id));
            let dx = if self.grad_flows[input] {
                let accumulate = !written.insert(input);
                let t = &self.graph.tensors[input];
                let (gx, in_len) = (grad_field(&t.ident), t.ty.len());
                quote!(::core::option::Option::Some(::kiln::__private::InputGrad {
                    grad: &mut ws.#gx[..batch * #in_len],
                    accumulate: #accumulate,
                }))
            } else {
                quote!(::core::option::Option::None)
            };
            calls.push(quote! {
                ::kiln::__private::Layer::backward(
                    &mut self.#field,
                    #x,
                    &ws.#v[..batch * #len],
                    &mut ws.#g[..batch * #len],
                    #dx,
                    batch,
                    &mut ws.#c,
                    &mut ws.__ctx,
                );
            });
        }
        quote!(#(#calls)*)
    }

    /// `check_ids` calls for layers reading ids straight from the input
    /// (in a scope where `x_flat` is the flat input).
    fn id_checks(&self) -> Vec<TokenStream> {
        let g = self.graph;
        g.nodes
            .iter()
            .filter(|n| g.layers[n.layer].spec.checks_ids() && self.is_input(n.inputs[0]))
            .map(|n| {
                let field = &g.layers[n.layer].field;
                quote!(::kiln::__private::Layer::check_ids(&self.#field, x_flat)?;)
            })
            .collect()
    }

    fn predict_one(&self) -> TokenStream {
        let input = &self.graph.tensors[self.graph.inputs[0]];
        let x = value_field(&input.ident);
        let mut body = vec![quote!(let #x = ::kiln::sample::flatten_one(x);)];
        for node in &self.graph.nodes {
            let layer = &self.graph.layers[node.layer];
            let field = &layer.field;
            let src = value_field(&self.graph.tensors[node.inputs[0]].ident);
            let out = &self.graph.tensors[node.output];
            let (dst, len) = (value_field(&out.ident), out.ty.len());
            let zero = match out.ty.dtype {
                DType::F32 => quote!(0.0f32),
                DType::U32 => quote!(0u32),
            };
            body.push(quote! {
                let mut #dst = [#zero; #len];
                ::kiln::__private::Layer::forward_one(&self.#field, &#src[..], &mut #dst[..]);
            });
        }
        let out = value_field(&self.graph.tensors[self.graph.outputs[0]].ident);
        quote!(#(#body)* ::kiln::sample::from_flat(&#out[..]))
    }

    fn summary(&self, def: &ModelDef) -> TokenStream {
        let g = self.graph;
        let mut rows = Vec::new();
        for &i in &g.inputs {
            let t = &g.tensors[i];
            let (name, shape) = (t.ident.to_string(), t.ty.keras_str());
            rows.push(quote! {
                ::kiln::summary::SummaryRow {
                    name: #name.into(),
                    kind: "InputLayer".into(),
                    output_shape: #shape.into(),
                    trainable: 0,
                    non_trainable: 0,
                    connected_to: ::std::vec::Vec::new(),
                }
            });
        }
        let mut order: Vec<usize> = (0..g.layers.len()).collect();
        order.sort_by_key(|&l| g.layers[l].nodes.first().copied());
        for l in order {
            let layer = &g.layers[l];
            let (name, field, shape) = (&layer.keras_name, &layer.field, layer.output.keras_str());
            let connected: Vec<String> =
                layer.nodes.iter().flat_map(|&n| g.nodes[n].inputs.iter().map(|&t| self.inbound_name(t))).collect();
            rows.push(quote! {{
                let (trainable, non_trainable) = ::kiln::network::count_params(|f| ::kiln::__private::Layer::params(&self.#field, f));
                ::kiln::summary::SummaryRow {
                    name: #name.into(),
                    kind: ::kiln::__private::Layer::keras_type(&self.#field).into(),
                    output_shape: #shape.into(),
                    trainable,
                    non_trainable,
                    connected_to: ::std::vec![#(::std::string::String::from(#connected)),*],
                }
            }});
        }
        let sequential_like = g.inputs.len() == 1
            && g.outputs.len() == 1
            && g.layers.iter().all(|l| l.nodes.len() == 1)
            && g.nodes.iter().all(|n| n.inputs.len() == 1);
        let model_name = snake_case(&def.name.to_string());
        quote! {
            ::kiln::summary::Summary {
                model_name: #model_name.into(),
                rows: ::std::vec![#(#rows),*],
                sequential_like: #sequential_like,
            }
        }
    }

    /// Keras's `layer[node][tensor]` name of a tensor.
    fn inbound_name(&self, tensor: usize) -> String {
        let g = self.graph;
        match g.tensors[tensor].producer {
            None => format!("{}[0][0]", g.tensors[tensor].ident),
            Some(node) => {
                let layer = &g.layers[g.nodes[node].layer];
                let index = layer.nodes.iter().position(|&n| n == node).unwrap_or(0);
                format!("{}[{index}][0]", layer.keras_name)
            }
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
