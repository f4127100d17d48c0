//! One sample without the heap: `predict_one`, `predict_one_with` and its
//! `<Name>OneSample` scratch, and the model as a `Layer`.
//!
//! `predict_one` keeps activations in stack arrays while they total at most
//! [`STACK_LIMIT`]; a larger model would overflow a thread's stack, so its
//! `predict_one` uses a per-thread `<Name>OneSample` (allocated on the
//! thread's first call) and `predict_one_with` a caller-owned one.

use super::{grad_field, tuple_or_single, value_field, Gen};
use crate::layers::DType;
use proc_macro2::TokenStream;
use quote::quote;
use syn::Ident;

/// Above this many bytes of activations, one-sample inference keeps them in
/// a heap scratch (`<Name>OneSample`) instead of stack arrays: 64 KiB is
/// 3% of the 2 MiB a spawned thread gets by default, leaving the rest for
/// the caller and for the layers' own per-step buffers.
pub(super) const STACK_LIMIT: usize = 64 * 1024;

/// Where one-sample activations live.
#[derive(Clone, Copy)]
pub(super) enum Storage<'s> {
    /// `let mut v_t = [0.0; len];` in the function's frame.
    Stack,
    /// The fields of `__scratch: &mut <scratch type>`.
    Scratch(&'s Ident),
}

impl Gen<'_> {
    /// Bytes of every activation one sample produces (inputs excluded).
    /// `None` when a size is a constant only rustc evaluates.
    fn activation_bytes(&self) -> Option<usize> {
        let g = self.graph;
        g.nodes.iter().map(|n| g.tensors[n.output].ty.len().known().map(|len| len * 4)).sum()
    }

    /// Whether `predict_one` keeps its activations on the stack.
    pub(super) fn one_sample_on_stack(&self) -> bool {
        // Sizes given as constants: the heap scratch, which fits any size.
        self.activation_bytes().is_some_and(|bytes| bytes <= STACK_LIMIT)
    }

    /// `<Name>OneSample`: heap buffers for one sample's activations, so
    /// `predict_one_with` needs neither the heap nor much stack.
    pub(super) fn one_sample_type(&self, vis: &syn::Visibility, name: &Ident, scratch: &Ident) -> TokenStream {
        let g = self.graph;
        let mut fields = Vec::new();
        let mut inits = Vec::new();
        for node in &g.nodes {
            let t = &g.tensors[node.output];
            let (v, elem, len) = (value_field(&t.ident), t.ty.elem_tokens(), t.ty.len());
            let zero = match t.ty.dtype {
                DType::F32 => quote!(0.0f32),
                DType::U32 => quote!(0u32),
            };
            fields.push(quote!(#v: ::std::vec::Vec<#elem>,));
            inits.push(quote!(#v: ::std::vec![#zero; #len],));
        }
        let bytes = match self.activation_bytes() {
            Some(bytes) => bytes.to_string(),
            None => "its".to_string(),
        };
        let doc = format!(
            "One sample's activations for [`{name}::predict_one_with`] ({bytes} bytes on the heap): \
             create one per thread and reuse it, predictions then allocate nothing."
        );
        let new_doc = format!("Allocates the {bytes} bytes of activations.");
        quote! {
            #[doc = #doc]
            #[allow(non_snake_case)] // fields are named after the user's tensors
            #vis struct #scratch {
                #(#fields)*
            }

            #[automatically_derived]
            impl #scratch {
                #[doc = #new_doc]
                #vis fn new() -> Self {
                    #scratch { #(#inits)* }
                }
            }

            #[automatically_derived]
            impl ::core::default::Default for #scratch {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    }

    /// Runs `body`, in which `__scratch: &mut #scratch`, with this thread's
    /// scratch (created on the thread's first call, then reused); a
    /// re-entrant call, or one while the thread is exiting, gets a fresh one.
    pub(super) fn with_thread_scratch(scratch: &Ident, body: TokenStream) -> TokenStream {
        quote! {{
            ::std::thread_local! {
                static __SCRATCH: ::core::cell::RefCell<::core::option::Option<#scratch>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }
            let mut __run = |__scratch: &mut #scratch| #body;
            let __done = __SCRATCH.try_with(|__cell| {
                __cell.try_borrow_mut().ok().map(|mut __slot| __run(__slot.get_or_insert_with(#scratch::new)))
            });
            match __done {
                ::core::result::Result::Ok(::core::option::Option::Some(__value)) => __value,
                _ => __run(&mut #scratch::new()),
            }
        }}
    }

    /// The body of `predict_one` (or `predict_one_with`), in a scope where
    /// `__x0`, … are the flat inputs.
    pub(super) fn predict_one(&self, storage: Storage<'_>) -> TokenStream {
        let g = self.graph;
        let body = self.inference_statements(storage);
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

    /// One sample through every node into buffers named `v_<tensor>`:
    /// stack arrays, or the fields of `__scratch`.
    pub(super) fn inference_statements(&self, storage: Storage<'_>) -> TokenStream {
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
        if let Storage::Scratch(scratch) = storage {
            let fields = g.nodes.iter().map(|n| value_field(&g.tensors[n.output].ident));
            body.push(quote!(let #scratch { #(#fields),* } = __scratch;));
        }
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
            if let Storage::Stack = storage {
                body.push(quote!(let mut #dst = [#zero; #len];));
            }
            body.push(call);
        }
        quote!(#(#body)*)
    }

    /// `impl Layer` for a model of one input and one output, so it can be a
    /// layer of another model (`custom(Inner::new(0))`) or be wrapped in
    /// `TimeDistributed`. Its cache is its own workspace; its backward
    /// accumulates into its parameters and produces its input's gradient.
    pub(super) fn as_layer(&self, name: &Ident, ws: &Ident, scratch: &Ident) -> TokenStream {
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
        let forward_one = if self.one_sample_on_stack() {
            let inference = self.inference_statements(Storage::Stack);
            quote! {
                let __x0 = x;
                #inference
                y.copy_from_slice(&#v_out[..]);
            }
        } else {
            let inference = self.inference_statements(Storage::Scratch(scratch));
            Self::with_thread_scratch(
                scratch,
                quote!({
                    let __x0 = x;
                    #inference
                    y.copy_from_slice(&#v_out[..]);
                }),
            )
        };
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

                fn validate(&self) -> ::kiln::Result<()> {
                    ::kiln::network::Network::check_activity_regularizers(self)
                }

                fn forward(&self, x: &[#in_elem], y: &mut [f32], batch: usize, cache: &mut Self::Cache, ctx: &mut ::kiln::__private::Ctx) {
                    if cache.as_ref().is_none_or(|ws| ws.__capacity < batch) {
                        *cache = ::core::option::Option::Some(::kiln::network::Network::workspace(self, batch));
                    }
                    let ws = cache.as_mut().expect("just filled");
                    ws.__ctx.activity_scale = ctx.activity_scale;
                    ::kiln::network::Network::forward(self, ws, x, batch, ctx.training);
                    // Keras's `model.losses` collects the inner model's activity penalties too.
                    ctx.activity_penalty += <Self as ::kiln::network::Network>::activity_penalty(ws);
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
                    ctx: &mut ::kiln::__private::Ctx,
                ) {
                    let ws = cache.as_mut().expect("forward runs before backward");
                    ws.__ctx.activity_scale = ctx.activity_scale;
                    ws.#g_out[..batch * #out_len].copy_from_slice(dy);
                    let __x0 = x;
                    #backward
                    #store_dx
                }

                fn forward_one(&self, x: &[#in_elem], y: &mut [f32]) {
                    #forward_one
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
