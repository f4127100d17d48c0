//! Collects every error of a model so one build reports them all.

use std::fmt::Display;

/// An error collector (in the spirit of serde_derive's `Ctxt`).
#[derive(Default)]
pub struct Errors {
    collected: Option<syn::Error>,
    /// Checks involving constant sizes, left to rustc (each at its span).
    pub deferred: Vec<(proc_macro2::Span, crate::size::Deferred)>,
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
    pub fn finish(&mut self) -> syn::Result<()> {
        match self.collected.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The valid name nearest to a misspelled `given`, if one is near enough
/// to be what was meant: the same letters in another case (`lstm`), or
/// within a few edits (`Dens`, `activaton`, `relu6`), a third of the
/// name at most so that unrelated names (`x` for `y`) are not suggested.
pub fn nearest<'c>(given: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = given.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
        // Ties go to the alphabetically first name, so the suggestion
        // does not depend on a hash map's order.
        if best.is_none_or(|(d, c)| (distance, candidate) < (d, c)) {
            best = Some((distance, candidate));
        }
    }
    let (distance, candidate) = best?;
    // Names of one or two letters get no suggestion but another case.
    let allowed = given.chars().count().max(candidate.chars().count()) / 3;
    (distance <= allowed).then_some(candidate)
}

/// "; did you mean `Dense`?" when a valid name is near `given`, otherwise
/// "; expected one of: …" listing every valid name.
pub fn suggestion(given: &str, candidates: &[&str], list_label: &str) -> String {
    match nearest(given, candidates.iter().copied()) {
        Some(near) => format!("; did you mean `{near}`?"),
        None => format!("; {list_label}: {}", candidates.join(", ")),
    }
}
