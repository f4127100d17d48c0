//! Collects every error of a model so one build reports them all.

use std::fmt::Display;

/// An error collector (in the spirit of serde_derive's `Ctxt`).
#[derive(Default)]
pub struct Errors {
    collected: Option<syn::Error>,
}

impl Errors {
    /// Records an error spanned on `tokens`.
    pub fn push(&mut self, tokens: impl quote::ToTokens, message: impl Display) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub fn push_at(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.add(syn::Error::new(span, message));
    }

    fn add(&mut self, error: syn::Error) {
        match &mut self.collected {
            Some(all) => all.combine(error),
            None => self.collected = Some(error),
        }
    }

    /// Whether nothing has been recorded yet.
    pub fn is_empty(&self) -> bool {
        self.collected.is_none()
    }

    /// `Ok` when nothing was recorded, otherwise every error combined.
    pub fn finish(self) -> syn::Result<()> {
        match self.collected {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
