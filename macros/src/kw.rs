//! The DSL's keywords.

syn::custom_keyword!(input);
syn::custom_keyword!(output);
syn::custom_keyword!(from);
syn::custom_keyword!(embed);
