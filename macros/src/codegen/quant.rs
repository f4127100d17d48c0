//! `<Name>Int8`: the model with int8 `Dense`, `Embedding` and `LSTM`
//! layers (`kiln::quant`), and `Name::quantize`, which builds it from the
//! trained f32 model and calibration samples.
//!
//! Generated only for a model that can be quantized: one input, one
//! output, a chain of layers each called once, every layer either
//! quantizable (`Dense`, `Embedding`, `LSTM`, via `kiln::quant::Quantize`)
//! or without weights (activations, dropout and noise, reshaping, pooling:
//! `kiln::quant::Same`, the f32 layer in inference mode), at least one of
//! the former, and one-sample activations that fit the stack. Any other
//! model simply has no int8 type (no error: its f32 code is unaffected).
//! The generated code lists the layers; calibration checks, batching,
//! buffers and files are generic runtime code (`kiln::quant::model`).

use super::inference::Storage;
use super::{value_field, Gen};
use crate::layers::DType;
use crate::parse::ModelDef;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// How a layer appears in the int8 model.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Replaced by its `Quantize::Quantized` form.
    Quantized,
    /// Kept in f32 (`Same`).
    Same,
}

impl Gen<'_> {
    /// Each node's [`Kind`], or `None` when the model has no int8 form.
    fn int8_kinds(&self) -> Option<Vec<Kind>> {
        let g = self.graph;
        if g.inputs.len() != 1 || g.outputs.len() != 1 || g.nodes.is_empty() || !self.one_sample_on_stack() {
            return None;
        }
        let mut kinds = Vec::new();
        for (k, node) in g.nodes.iter().enumerate() {
            let layer = &g.layers[node.layer];
            // A chain: node k reads node k−1's output (the input for k = 0).
            let reads = if k == 0 { g.inputs[0] } else { g.nodes[k - 1].output };
            if layer.nodes.len() != 1 || node.inputs != [reads] {
                return None;
            }
            let spec = &layer.spec;
            kinds.push(match spec.keras_type() {
                "Dense" | "Embedding" | "LSTM" => Kind::Quantized,
                _ if !spec.has_params() && !spec.is_merge() && !spec.is_custom() => Kind::Same,
                _ => return None,
            });
        }
        let last = g.nodes.last().map(|n| n.output);
        (last == Some(g.outputs[0]) && kinds.contains(&Kind::Quantized)).then_some(kinds)
    }

    /// `<Name>Int8` and `Name::quantize`, or nothing (see the module doc).
    pub(super) fn int8(&self, def: &ModelDef) -> TokenStream {
        let Some(kinds) = self.int8_kinds() else { return TokenStream::new() };
        let g = self.graph;
        let (name, vis) = (&def.name, &def.vis);
        let int8 = format_ident!("{}Int8", name);
        let input = &g.tensors[g.inputs[0]];
        let output = &g.tensors[g.outputs[0]];
        let (in_ty, in_elem, in_len) = (input.ty.rust_type(), input.ty.elem_tokens(), input.ty.len());
        let (out_ty, out_len) = (output.ty.rust_type(), output.ty.len());
        let nodes: Vec<_> = g.nodes.iter().map(|n| (&g.layers[n.layer], &g.tensors[n.output])).collect();
        let first = &nodes[0].0.field;

        let fields = nodes.iter().zip(&kinds).map(|((layer, _), kind)| {
            let (field, ty) = (&layer.field, self.layer_type(layer));
            let doc = format!("Layer `{}` (Keras `{}`).", layer.keras_name, layer.spec.keras_type());
            match kind {
                Kind::Quantized => quote!(#[doc = #doc] pub #field: <#ty as ::kiln::quant::Quantize>::Quantized,),
                Kind::Same => quote!(#[doc = #doc] pub #field: ::kiln::quant::Same<#ty>,),
            }
        });

        // Calibration: each sample through the f32 layers' `forward_one`
        // (as `predict_one`), recording the range of what each quantized
        // layer reading floats reads.
        let inference = self.inference_statements(Storage::Stack);
        let observe = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(k, n)| kinds[*k] == Kind::Quantized && g.tensors[n.inputs[0]].ty.dtype == DType::F32);
        let observe = observe.map(|(k, n)| {
            let src = if k == 0 {
                quote!(__x0)
            } else {
                let v = value_field(&g.tensors[n.inputs[0]].ident);
                quote!(&#v[..])
            };
            quote!(__ranges[#k].observe(#src);)
        });
        let node_count = g.nodes.len();
        let quantize_fields = nodes.iter().zip(&kinds).enumerate().map(|(k, ((layer, _), kind))| {
            let field = &layer.field;
            match kind {
                Kind::Quantized => quote!(#field: ::kiln::quant::Quantize::quantize(&self.#field, &__ranges[#k])?,),
                Kind::Same => quote!(#field: ::kiln::quant::Same(::core::clone::Clone::clone(&self.#field)),),
            }
        });
        let load_fields = nodes.iter().zip(&kinds).map(|((layer, _), kind)| {
            let (field, prefix) = (&layer.field, &layer.keras_name);
            match kind {
                Kind::Quantized => {
                    quote!(#field: ::kiln::quant::Quantize::load_quantized(&__arch.#field, #prefix, &mut file)?,)
                }
                Kind::Same => quote!(#field: ::kiln::quant::Same(::core::clone::Clone::clone(&__arch.#field)),),
            }
        });
        let save_calls = nodes.iter().map(|(layer, _)| {
            let (field, prefix) = (&layer.field, &layer.keras_name);
            quote!(::kiln::quant::QLayer::save(&self.#field, #prefix, &mut __file);)
        });

        // One sample: stack arrays, as the f32 `predict_one`.
        let mut one = Vec::new();
        let mut src = quote!(__x0);
        for (layer, out) in &nodes {
            let (field, v, len) = (&layer.field, value_field(&out.ident), out.ty.len());
            one.push(quote! {
                let mut #v = [0.0f32; #len];
                ::kiln::quant::QLayer::forward_one(&self.#field, #src, &mut #v[..]);
            });
            src = quote!(&#v[..]);
        }
        let last_v = value_field(&output.ident);
        let fallible = !self.id_checks().is_empty();
        let check = quote!(::kiln::quant::QLayer::check_ids(&self.#first, __x0)?;);
        let (one_sig, one_body) = if fallible {
            (
                quote!(::kiln::Result<#out_ty>),
                quote!(#check #(#one)* ::core::result::Result::Ok(::kiln::sample::from_flat(&#last_v[..]))),
            )
        } else {
            (quote!(#out_ty), quote!(#(#one)* ::kiln::sample::from_flat(&#last_v[..])))
        };

        // A batch: layers alternate between two buffers.
        let lens: Vec<_> = nodes.iter().map(|(_, out)| out.ty.len()).collect();
        let mut batch = Vec::new();
        let mut src = quote!(__chunk);
        for (k, (layer, out)) in nodes.iter().enumerate() {
            let (field, len) = (&layer.field, out.ty.len());
            let dst = if k % 2 == 0 { quote!(__p0) } else { quote!(__p1) };
            batch.push(quote! {
                ::kiln::quant::QLayer::forward(&self.#field, #src, &mut #dst[..__m * #len], __m, __s);
            });
            src = quote!(&#dst[..__m * #len]);
        }

        let doc = format!(
            "[`{name}`] with int8 `Dense`, `Embedding` and `LSTM` layers (`kiln::quant`; other layers in f32), \
             made by [`{name}::quantize`]. Inference only; stored with [`{int8}::save`] / [`{int8}::to_bytes`] \
             and read back with [`{int8}::load`] / [`{int8}::from_bytes`] (e.g. from `include_bytes!`)."
        );
        let quantize_doc = format!(
            "[`{int8}`] by post-training int8 quantization: runs `samples` (calibration data, typically a few hundred \
             training samples) through the model to find the range of each quantized layer's input, then \
             quantizes the weights per output channel. Errors: no sample, non-finite values, a layer whose \
             int8 form does not exist for its arguments (an `LSTM` with an unbounded activation).\n\n\
             ```ignore\nlet q = model.network().quantize(&x_train[..300])?;\nlet y = q.predict_one(&x_test[0]);\n```"
        );
        let quantize_flat_doc = format!(
            "[`{name}::quantize`] of samples given as flat values; an error naming `samples` unless their \
             number is a positive multiple of the input's length."
        );
        let ids_doc = if fallible { " An id beyond the `Embedding`'s `input_dim` is an error." } else { "" };
        let one_doc = format!("Runs the int8 model on one sample without touching the heap.{ids_doc}");

        quote! {
            #[doc = #doc]
            #[derive(Clone, Debug)]
            #vis struct #int8 {
                #(#fields)*
                __architecture: ::std::string::String,
            }

            #[automatically_derived]
            impl #name {
                #[doc = #quantize_doc]
                #vis fn quantize(&self, samples: &[#in_ty]) -> ::kiln::Result<#int8> {
                    #name::quantize_flat(self, ::kiln::sample::flatten(samples))
                }

                #[doc = #quantize_flat_doc]
                #[allow(non_snake_case, unused_mut)]
                #vis fn quantize_flat(&self, samples: &[#in_elem]) -> ::kiln::Result<#int8> {
                    ::kiln::quant::calibration_count(samples, #in_len)?;
                    ::kiln::network::Network::check_input(self, samples)?;
                    let mut __ranges = [::kiln::quant::ActivationRange::default(); #node_count];
                    for __x0 in samples.chunks_exact(#in_len) {
                        #inference
                        #(#observe)*
                    }
                    ::core::result::Result::Ok(#int8 {
                        #(#quantize_fields)*
                        __architecture: ::kiln::quant::architecture(&#name::summary(self)),
                    })
                }
            }

            #[automatically_derived]
            impl #int8 {
                #[doc = #one_doc]
                #[allow(non_snake_case)]
                #vis fn predict_one(&self, x: &#in_ty) -> #one_sig {
                    let __x0 = ::kiln::sample::flatten_one(x);
                    #one_body
                }

                /// Runs the int8 model on `x` in batches of `batch_size` (buffers
                /// kept per thread, so only the returned `Vec` is allocated once
                /// they have grown).
                #vis fn predict(&self, x: &[#in_ty], batch_size: usize) -> ::kiln::Result<::std::vec::Vec<#out_ty>> {
                    ::kiln::quant::QBuffers::with_thread_local(|__b| #int8::predict_with(self, __b, x, batch_size))
                }

                /// [`Self::predict`] with caller-owned buffers.
                #vis fn predict_with(
                    &self,
                    buffers: &mut ::kiln::quant::QBuffers,
                    x: &[#in_ty],
                    batch_size: usize,
                ) -> ::kiln::Result<::std::vec::Vec<#out_ty>> {
                    let __x = ::kiln::sample::flatten(x);
                    ::kiln::quant::check_predict(__x, #in_len, batch_size)?;
                    ::kiln::quant::QLayer::check_ids(&self.#first, __x)?;
                    let __b = batch_size.min(x.len().max(1));
                    let __w = [#(#lens),*].into_iter().max().unwrap_or(0);
                    let (__p0, __p1, __s) = buffers.parts(__b * __w);
                    let mut __out = ::std::vec::Vec::with_capacity(x.len());
                    for __chunk in __x.chunks(__b * #in_len) {
                        let __m = __chunk.len() / #in_len;
                        #(#batch)*
                        let __y = #src;
                        __out.extend(__y.chunks_exact(#out_len).map(::kiln::sample::from_flat::<#out_ty>));
                    }
                    let _ = __p1;
                    ::core::result::Result::Ok(__out)
                }

                /// The quantized tensors (names `<layer>/…`, see `kiln::quant`) and
                /// the architecture they belong to (metadata `architecture`).
                #vis fn to_qfile(&self) -> ::kiln::quant::QFile {
                    let mut __file = ::kiln::quant::QFile::new();
                    __file.set_meta("architecture", ::core::clone::Clone::clone(&self.__architecture));
                    #(#save_calls)*
                    __file
                }

                /// The int8 file's bytes (safetensors, format `kiln.int8`).
                #vis fn to_bytes(&self) -> ::kiln::Result<::std::vec::Vec<u8>> {
                    #int8::to_qfile(self).to_bytes().map_err(|problem| ::kiln::Error::File { path: "<memory>".into(), problem })
                }

                /// Writes the int8 file (atomically).
                #vis fn save(&self, path: impl ::core::convert::AsRef<::std::path::Path>) -> ::kiln::Result<()> {
                    #int8::to_qfile(self).save(path)
                }

                /// Reads an int8 file written by [`Self::save`]; a file of another
                /// model (architecture, tensor names or shapes) is an error.
                #vis fn load(path: impl ::core::convert::AsRef<::std::path::Path>) -> ::kiln::Result<Self> {
                    ::kiln::quant::load_path(path, #int8::parse)
                }

                /// [`Self::load`] from the file's bytes (e.g. `include_bytes!`).
                #vis fn from_bytes(bytes: &[u8]) -> ::kiln::Result<Self> {
                    #int8::parse(bytes).map_err(::kiln::quant::bytes_error)
                }

                fn parse(bytes: &[u8]) -> ::core::result::Result<Self, ::kiln::io::FileProblem> {
                    #int8::from_qfile(::kiln::quant::QFile::from_bytes(bytes)?)
                }

                /// The model from a parsed int8 file, which must hold exactly its tensors.
                #vis fn from_qfile(mut file: ::kiln::quant::QFile) -> ::core::result::Result<Self, ::kiln::io::FileProblem> {
                    // The f32 model supplies the architecture (activations), which the file does not hold.
                    let __arch = #name::new(0);
                    let __architecture = ::kiln::quant::architecture(&#name::summary(&__arch));
                    ::kiln::quant::check_architecture(&file, &__architecture)?;
                    let __model = #int8 { #(#load_fields)* __architecture };
                    file.expect_no_more()?;
                    ::core::result::Result::Ok(__model)
                }
            }
        }
    }
}
