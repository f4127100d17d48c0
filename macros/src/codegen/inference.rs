//! One sample without the heap: `predict_one`, and the model as a `Layer`.

use super::{grad_field, tuple_or_single, value_field, Gen};
use crate::layers::DType;
use proc_macro2::TokenStream;
use quote::quote;
use syn::Ident;

impl Gen<'_> {
    /// The body of `predict_one`, in a scope where `__x0`, … are the flat inputs.
    pub(super) fn predict_one(&self) -> TokenStream {
        let g = self.graph;
        let body = self.inference_statements();
        let outputs: Vec<TokenStream> = g
            .outputs
            .iter()
            .map(|&o| {
                let v = value_field(&g.tensors[o].ident);
                quote!(::kiln::sample::from_flat(&#v[..]))
            })
            .collect();
        let result = tuple_or_single(&outputs);
        quote!(#body #result)
    }

    /// One sample through every node into stack arrays named `v_<tensor>`.
    pub(super) fn inference_statements(&self) -> TokenStream {
        let g = self.graph;
        let source = |t: usize| {
            if self.is_input(t) {
                let x = self.input_var(t);
                quote!(#x)
            } else {
                let v = value_field(&g.tensors[t].ident);
                quote!(&#v[..])
            }
        };
        let mut body = Vec::new();
        for node in &g.nodes {
            let layer = &g.layers[node.layer];
            let field = &layer.field;
            let out = &g.tensors[node.output];
            let (dst, len) = (value_field(&out.ident), out.ty.len());
            let zero = match out.ty.dtype {
                DType::F32 => quote!(0.0f32),
                DType::U32 => quote!(0u32),
            };
            let call = if layer.spec.is_merge() {
                let xs = node.inputs.iter().map(|&i| source(i));
                quote!(::kiln::__private::Merge::forward(&self.#field, &[#(#xs),*], &mut #dst[..], 1);)
            } else {
                let src = source(node.inputs[0]);
                quote!(::kiln::__private::Layer::forward_one(&self.#field, #src, &mut #dst[..]);)
            };
            body.push(quote! {
                let mut #dst = [#zero; #len];
                #call
            });
        }
        quote!(#(#body)*)
    }

    /// `impl Layer` for a model of one input and one output, so it can be a
    /// layer of another model (`custom(Inner::new(0))`) or be wrapped in
    /// `TimeDistributed`. Its cache is its own workspace; its backward
    /// accumulates into its parameters and produces its input's gradient.
    pub(super) fn as_layer(&self, name: &Ident, ws: &Ident) -> TokenStream {
        let g = self.graph;
        if g.inputs.len() != 1 || g.outputs.len() != 1 {
            return TokenStream::new();
        }
        let (input, output) = (&g.tensors[g.inputs[0]], &g.tensors[g.outputs[0]]);
        let (in_elem, in_len, out_len) = (input.ty.elem_tokens(), input.ty.len(), output.ty.len());
        let (v_out, g_out) = (value_field(&output.ident), grad_field(&output.ident));
        let backward = self.backward_to_input();
        let store_dx = if self.has_grad_buffer(g.inputs[0]) {
            let g_in = grad_field(&input.ident);
            quote! {
                if let ::core::option::Option::Some(dx) = dx {
                    dx.store(&ws.#g_in[..batch * #in_len]);
                }
            }
        } else {
            quote!(let _ = dx;)
        };
        let inference = self.inference_statements();
        quote! {
            #[automatically_derived]
            #[allow(non_snake_case)]
            impl ::kiln::__private::Layer for #name {
                type In = #in_elem;
                type Cache = ::core::option::Option<#ws>;
                const INPUT_LEN: usize = #in_len;
                const OUTPUT_LEN: usize = #out_len;

                fn keras_type(&self) -> &'static str {
                    "Functional"
                }

                fn check_ids(&self, ids: &[#in_elem]) -> ::kiln::Result<()> {
                    ::kiln::network::Network::check_input(self, ids)
                }

                fn forward(&self, x: &[#in_elem], y: &mut [f32], batch: usize, cache: &mut Self::Cache, ctx: &mut ::kiln::__private::Ctx) {
                    if cache.as_ref().is_none_or(|ws| ws.__capacity < batch) {
                        *cache = ::core::option::Option::Some(::kiln::network::Network::workspace(self, batch));
                    }
                    let ws = cache.as_mut().expect("just filled");
                    ::kiln::network::Network::forward(self, ws, x, batch, ctx.training);
                    y.copy_from_slice(&ws.#v_out[..batch * #out_len]);
                }

                fn backward(
                    &mut self,
                    x: &[#in_elem],
                    _: &[f32],
                    dy: &mut [f32],
                    dx: ::core::option::Option<::kiln::__private::InputGrad<'_>>,
                    batch: usize,
                    cache: &mut Self::Cache,
                    _: &mut ::kiln::__private::Ctx,
                ) {
                    let ws = cache.as_mut().expect("forward runs before backward");
                    ws.#g_out[..batch * #out_len].copy_from_slice(dy);
                    let __x0 = x;
                    #backward
                    #store_dx
                }

                fn forward_one(&self, x: &[#in_elem], y: &mut [f32]) {
                    let __x0 = x;
                    #inference
                    y.copy_from_slice(&#v_out[..]);
                }

                fn visit_params(&mut self, f: &mut dyn FnMut(&mut ::kiln::param::Param)) {
                    ::kiln::network::Network::visit_params(self, f);
                }

                fn params(&self, f: &mut dyn FnMut(&::kiln::param::Param)) {
                    ::kiln::network::Network::params(self, f);
                }

                fn param_paths(&self, prefix: &str, out: &mut ::std::vec::Vec<::std::string::String>) {
                    for path in ::kiln::network::Network::param_paths(self) {
                        out.push(::std::format!("{}/{}", prefix, path));
                    }
                }
            }
        }
    }
}
