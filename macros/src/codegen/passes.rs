//! The batched passes: `forward`, the generated `backward` (also the
//! variant that produces the input's gradient) and input id checks.

use super::{cache_field, grad_field, logit_fields, value_field, Gen};
use crate::layers::DType;
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::HashSet;

impl Gen<'_> {
    pub(super) fn forward(&self) -> TokenStream {
        let calls = self.graph.nodes.iter().enumerate().map(|(id, node)| {
            let layer = &self.graph.layers[node.layer];
            let field = &layer.field;
            let out = &self.graph.tensors[node.output];
            let (v, len) = (value_field(&out.ident), out.ty.len());
            if layer.spec.is_merge() {
                let xs = node.inputs.iter().map(|&i| self.value_slice(i));
                quote! {
                    ::kiln::__private::Merge::forward(&self.#field, &[#(#xs),*], &mut ws.#v[..batch * #len], batch);
                }
            } else if let Some(o) = self.logit_output(id) {
                // Keep the logits beside the output (see `Gen::logit_output`).
                let (x, c) = (self.value_slice(node.inputs[0]), cache_field(id));
                let (z, act, _) = logit_fields(o);
                quote! {
                    ws.#act = ::kiln::__private::Layer::output_activation(&self.#field);
                    if ws.#act == ::kiln::activations::Activation::Linear {
                        ::kiln::__private::Layer::forward(&self.#field, #x, &mut ws.#v[..batch * #len], batch, &mut ws.#c, &mut ws.__ctx);
                    } else {
                        ::kiln::__private::Layer::forward_logits(&self.#field, #x, &mut ws.#z[..batch * #len], batch, &mut ws.#c, &mut ws.__ctx);
                        ws.#v[..batch * #len].copy_from_slice(&ws.#z[..batch * #len]);
                        ws.#act.forward_in_place(&mut ws.#v[..batch * #len], #len);
                    }
                }
            } else {
                let (x, c) = (self.value_slice(node.inputs[0]), cache_field(id));
                // Keras's activity regularizer: `r(output) / batch`, added to the loss.
                let activity = layer.spec.activity_regularizer().map(|r| {
                    quote! {
                        ws.__ctx.activity_penalty += ws.__ctx.activity_scale * (#r).penalty(&ws.#v[..batch * #len]) / batch as f32;
                    }
                });
                quote! {
                    ::kiln::__private::Layer::forward(&self.#field, #x, &mut ws.#v[..batch * #len], batch, &mut ws.#c, &mut ws.__ctx);
                    #activity
                }
            }
        });
        let reset = self.has_activity_regularizers().then(|| quote!(ws.__ctx.activity_penalty = 0.0;));
        quote!(#reset #(#calls)*)
    }

    /// Whether any layer has a Keras `activity_regularizer`, or may add an
    /// activity penalty of its own (a custom layer: a nested model adds
    /// its layers' penalties, `Layer::forward`).
    pub(super) fn has_activity_regularizers(&self) -> bool {
        self.graph.layers.iter().any(|l| l.spec.activity_regularizer().is_some() || l.spec.is_custom())
    }

    /// `Network::check_activity_regularizers`: each activity regularizer's
    /// factors, which the macro cannot read when they are constants.
    pub(super) fn activity_regularizer_checks(&self) -> Option<TokenStream> {
        let checks: Vec<TokenStream> = self
            .graph
            .layers
            .iter()
            .filter_map(|l| {
                let layer = &l.keras_name;
                if l.spec.is_custom() {
                    // A nested model's error names its inner layer; say which model holds it.
                    let field = &l.field;
                    return Some(quote!(::kiln::__private::validate_nested(&self.#field, #layer)?;));
                }
                let r = l.spec.activity_regularizer()?;
                Some(quote!((#r).validate_activity(#layer)?;))
            })
            .collect();
        (!checks.is_empty()).then(|| {
            quote! {
                fn check_activity_regularizers(&self) -> ::kiln::Result<()> {
                    #(#checks)*
                    ::core::result::Result::Ok(())
                }
            }
        })
    }

    pub(super) fn backward(&self) -> TokenStream {
        self.backward_with(&self.grad_flows)
    }

    /// The backward pass that also produces the model input's gradient.
    pub(super) fn backward_to_input(&self) -> TokenStream {
        self.backward_with(&self.grad_flows_from_input)
    }

    fn backward_with(&self, flows: &[bool]) -> TokenStream {
        // The loss writes each output's gradient; every other gradient
        // buffer is overwritten by its first consumer (in backward order)
        // and accumulated into by the rest.
        let mut written: HashSet<usize> = self.graph.outputs.iter().copied().collect();
        let mut calls = Vec::new();
        for (id, node) in self.graph.nodes.iter().enumerate().rev() {
            if !flows[node.output] {
                continue;
            }
            let layer = &self.graph.layers[node.layer];
            let field = &layer.field;
            let out = &self.graph.tensors[node.output];
            let (v, g, len) = (value_field(&out.ident), grad_field(&out.ident), out.ty.len());
            let mut dx_for = |input: usize| {
                if flows[input] {
                    let accumulate = !written.insert(input);
                    let t = &self.graph.tensors[input];
                    let (gx, in_len) = (grad_field(&t.ident), t.ty.len());
                    quote!(::core::option::Option::Some(::kiln::__private::InputGrad {
                        grad: &mut ws.#gx[..batch * #in_len],
                        accumulate: #accumulate,
                    }))
                } else {
                    quote!(::core::option::Option::None)
                }
            };
            if layer.spec.is_merge() {
                let xs: Vec<TokenStream> = node.inputs.iter().map(|&i| self.value_slice(i)).collect();
                let dxs: Vec<TokenStream> = node.inputs.iter().map(|&i| dx_for(i)).collect();
                calls.push(quote! {
                    ::kiln::__private::Merge::backward(
                        &self.#field,
                        &[#(#xs),*],
                        &ws.#v[..batch * #len],
                        &ws.#g[..batch * #len],
                        &mut [#(#dxs),*],
                        batch,
                    );
                });
            } else if let Some(o) = self.logit_output(id) {
                let input = node.inputs[0];
                let (x, c, dx) = (self.value_slice(input), cache_field(id), dx_for(input));
                let (z, act, flag) = logit_fields(o);
                // With a linear final activation the forward pass wrote the
                // output itself, and `backward_logits` is `backward`.
                calls.push(quote! {
                    let __linear = ws.#act == ::kiln::activations::Activation::Linear;
                    if !__linear && !ws.#flag {
                        ws.#act.backward_in_place(&ws.#v[..batch * #len], &mut ws.#g[..batch * #len], #len);
                    }
                    ws.#flag = false;
                    let __logits = if __linear { &ws.#v[..batch * #len] } else { &ws.#z[..batch * #len] };
                    ::kiln::__private::Layer::backward_logits(
                        &mut self.#field,
                        #x,
                        __logits,
                        &mut ws.#g[..batch * #len],
                        #dx,
                        batch,
                        &mut ws.#c,
                        &mut ws.__ctx,
                    );
                });
            } else {
                let input = node.inputs[0];
                let (x, c, dx) = (self.value_slice(input), cache_field(id), dx_for(input));
                if let Some(r) = layer.spec.activity_regularizer() {
                    calls.push(quote! {
                        (#r).add_gradient(&ws.#v[..batch * #len], &mut ws.#g[..batch * #len], ws.__ctx.activity_scale / batch as f32);
                    });
                }
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
        }
        quote!(#(#calls)*)
    }

    /// `check_ids` calls for every layer that reads ids, against every
    /// model input whose ids reach it — directly or through `concatenate`
    /// (the only operation on ids, which copies them unchanged), so an id
    /// is checked wherever it ends up (in a scope where `__x0`, … are the
    /// flat inputs). Errors report the sample index within that input.
    pub(super) fn id_checks(&self) -> Vec<TokenStream> {
        let g = self.graph;
        let mut seen = HashSet::new();
        let mut checks = Vec::new();
        for node in &g.nodes {
            let input = node.inputs[0];
            if !g.layers[node.layer].spec.checks_ids() || g.tensors[input].ty.dtype != DType::U32 {
                continue;
            }
            for source in self.id_sources(input) {
                if !seen.insert((node.layer, source)) {
                    continue;
                }
                let (field, x, len) = (&g.layers[node.layer].field, self.input_var(source), g.tensors[source].ty.len());
                checks.push(quote!(::kiln::__private::check_ids(&self.#field, #x, #len)?;));
            }
        }
        checks
    }

    /// The model inputs whose ids make up id tensor `tensor`.
    fn id_sources(&self, tensor: usize) -> Vec<usize> {
        let g = self.graph;
        match g.tensors[tensor].producer {
            None => vec![tensor],
            Some(node) => {
                let mut sources = Vec::new();
                for &i in &g.nodes[node].inputs {
                    if g.tensors[i].ty.dtype == DType::U32 {
                        for source in self.id_sources(i) {
                            if !sources.contains(&source) {
                                sources.push(source);
                            }
                        }
                    }
                }
                sources
            }
        }
    }
}
