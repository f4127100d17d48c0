//! `summary()`: the rows of Keras's table.

use super::{snake_case, Gen};
use crate::parse::ModelDef;
use proc_macro2::TokenStream;
use quote::quote;

impl Gen<'_> {
    pub(super) fn summary(&self, def: &ModelDef) -> TokenStream {
        let g = self.graph;
        let mut rows = Vec::new();
        for &i in &g.inputs {
            let t = &g.tensors[i];
            let (name, shape) = (t.ident.to_string(), t.ty.keras_tokens());
            rows.push(quote! {
                ::kiln::summary::SummaryRow {
                    name: #name.into(),
                    kind: "InputLayer".into(),
                    output_shape: #shape,
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
            let (name, field, shape) = (&layer.keras_name, &layer.field, layer.output.keras_tokens());
            let connected: Vec<String> =
                layer.nodes.iter().flat_map(|&n| g.nodes[n].inputs.iter().map(|&t| self.inbound_name(t))).collect();
            let (count, kind) = if layer.spec.is_merge() {
                (quote!((0, 0)), quote!(::kiln::__private::Merge::keras_type(&self.#field)))
            } else {
                (
                    quote!(::kiln::network::count_params(|f| ::kiln::__private::Layer::params(&self.#field, f))),
                    quote!(::kiln::__private::Layer::keras_type(&self.#field)),
                )
            };
            rows.push(quote! {{
                let (trainable, non_trainable) = #count;
                ::kiln::summary::SummaryRow {
                    name: #name.into(),
                    kind: #kind.into(),
                    output_shape: #shape,
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
