//! Two models of the same name in one scope.
//!
//! A macro invocation cannot see the others, and rustc resolves a
//! duplicated name to the first struct, so the second model's impls would
//! all conflict with the first's: dozens of errors for one mistake
//! (docs/DESIGN.md, "Known limit"). Instead each invocation reads the
//! source file it was written in and looks for an earlier `struct <name>`
//! in the same scope (the innermost `{ … }` around it that is not a
//! `model!`'s own delimiters: a module, a function body, a block). A later
//! one expands to a single error and nothing else; the first defines the
//! type, so code using it adds no errors.
//!
//! Stateless (no registry across invocations, which re-expansion by an IDE
//! would confuse) and conservative: an invocation not found at its own
//! position in its file (written by another macro), or a scope with a
//! `cfg` attribute in it (either definition may be compiled out), is not
//! checked, and rustc's own errors remain.

use std::collections::HashSet;

/// The line of an earlier definition of `name` in the scope of the model
/// whose name is at `span`, if there is one (see the module's comment).
pub fn earlier_definition(name: &syn::Ident) -> Option<usize> {
    if !proc_macro::is_available() {
        return None; // unit tests: no compiler spans
    }
    let span = name.span().unwrap();
    let text = std::fs::read_to_string(span.local_file()?).ok()?;
    earlier_in_source(&text, &name.to_string(), span.line(), span.column())
}

/// [`earlier_definition`] on a file's text: `line` and `column` (1-based,
/// columns in characters, as rustc counts) locate the model's name.
pub fn earlier_in_source(text: &str, name: &str, line: usize, column: usize) -> Option<usize> {
    // The common case, the name once in the file: no scan.
    text.matches(name).nth(1)?;
    let scan = Scan::of(text, name);
    let own = scan.definitions.iter().position(|d| d.line == line && d.column == column)?;
    let scope = scan.definitions[own].scope;
    if scan.scopes_with_cfg.contains(&scope) {
        return None;
    }
    scan.definitions[..own].iter().find(|d| d.scope == scope).map(|d| d.line)
}

/// Where `struct <name>` occurs: the name's position and its scope (the
/// offset of the scope's opening brace; `None` for the file's top level).
struct Definition {
    line: usize,
    column: usize,
    scope: Option<usize>,
}

#[derive(Default)]
struct Scan {
    definitions: Vec<Definition>,
    scopes_with_cfg: HashSet<Option<usize>>,
}

/// An open delimiter: its offset, whether it is a brace, and whether it
/// opens a `model!` invocation (whose contents belong to the outer scope).
struct Open {
    at: usize,
    brace: bool,
    model: bool,
}

impl Scan {
    /// A small Rust lexer: enough to skip comments, strings and character
    /// literals, follow the delimiters, and see identifiers and `#`, `!`.
    fn of(text: &str, name: &str) -> Scan {
        let chars: Vec<char> = text.chars().collect();
        let mut scan = Scan::default();
        let mut stack: Vec<Open> = Vec::new();
        // The last significant tokens: identifiers and punctuation.
        let mut recent: Vec<String> = Vec::new();
        let (mut i, mut line, mut column) = (0, 1, 1);
        let scope_of = |stack: &[Open]| stack.iter().rev().find(|o| o.brace && !o.model).map(|o| o.at);
        macro_rules! advance {
            ($n:expr) => {
                for _ in 0..$n {
                    if i < chars.len() {
                        if chars[i] == '\n' {
                            line += 1;
                            column = 1;
                        } else {
                            column += 1;
                        }
                        i += 1;
                    }
                }
            };
        }
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if c.is_whitespace() {
                advance!(1);
            } else if c == '/' && next == Some('/') {
                while i < chars.len() && chars[i] != '\n' {
                    advance!(1);
                }
            } else if c == '/' && next == Some('*') {
                let mut depth = 0;
                loop {
                    if i >= chars.len() {
                        break;
                    }
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        advance!(2);
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        advance!(2);
                        if depth == 0 {
                            break;
                        }
                    } else {
                        advance!(1);
                    }
                }
            } else if c == '"' {
                advance!(1);
                while i < chars.len() && chars[i] != '"' {
                    advance!(if chars[i] == '\\' { 2 } else { 1 });
                }
                advance!(1);
                recent.push("\"".into());
            } else if c == '\'' {
                // A character literal ('x', '\n', '\u{..}') or a lifetime.
                if next == Some('\\') {
                    advance!(2);
                    while i < chars.len() && chars[i] != '\'' {
                        advance!(1);
                    }
                    advance!(1);
                } else if chars.get(i + 2) == Some(&'\'') {
                    advance!(3);
                } else {
                    advance!(1);
                }
            } else if c.is_alphabetic() || c == '_' {
                let (start_line, start_column, start) = (line, column, i);
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    advance!(1);
                }
                let word: String = chars[start..i].iter().collect();
                // Raw strings: r"…", r#"…"#, br"…", cr#"…"#.
                if matches!(word.as_str(), "r" | "br" | "cr") && matches!(chars.get(i), Some('"' | '#')) {
                    let mut hashes = 0;
                    while chars.get(i) == Some(&'#') {
                        hashes += 1;
                        advance!(1);
                    }
                    if chars.get(i) == Some(&'"') {
                        advance!(1);
                        while i < chars.len() {
                            if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                                advance!(1 + hashes);
                                break;
                            }
                            advance!(1);
                        }
                        recent.push("\"".into());
                        continue;
                    }
                }
                if word == name && recent.last().is_some_and(|w| w == "struct") {
                    let scope = scope_of(&stack);
                    scan.definitions.push(Definition { line: start_line, column: start_column, scope });
                }
                if (word == "cfg" || word == "cfg_attr") && recent.last().is_some_and(|w| w == "[") {
                    // `#[cfg…]` / `#![cfg…]`: the attribute's `[` is on the
                    // stack; the scope it sits in is the one below it.
                    let scope = scope_of(&stack[..stack.len().saturating_sub(1)]);
                    scan.scopes_with_cfg.insert(scope);
                }
                recent.push(word);
            } else {
                match c {
                    '{' | '(' | '[' => {
                        let n = recent.len();
                        let model = n >= 2 && recent[n - 1] == "!" && recent[n - 2] == "model";
                        stack.push(Open { at: i, brace: c == '{', model });
                    }
                    '}' | ')' | ']' => {
                        stack.pop();
                    }
                    _ => {}
                }
                recent.push(c.to_string());
                advance!(1);
            }
            if recent.len() > 4 {
                recent.drain(..recent.len() - 4);
            }
        }
        scan
    }
}

#[cfg(test)]
mod tests {
    use super::earlier_in_source;

    /// The line and column of the `n`-th (0-based) `struct Net`'s name.
    fn at(text: &str, n: usize) -> (usize, usize) {
        let offset = text.match_indices("struct Net").nth(n).expect("occurrence").0 + "struct ".len();
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
        (line, column)
    }

    fn earlier(text: &str, n: usize) -> Option<usize> {
        let (line, column) = at(text, n);
        earlier_in_source(text, "Net", line, column)
    }

    #[test]
    fn a_second_model_in_the_same_module_names_the_first_s_line() {
        let text = "use x;\nkiln::model! {\n    struct Net { input x: [f32; 2]; output x; }\n}\n\
                    kiln::model! { struct Net { input y: [f32; 3]; output y; } }\nfn main() {}\n";
        assert_eq!(earlier(text, 0), None);
        assert_eq!(earlier(text, 1), Some(3));
    }

    #[test]
    fn parentheses_as_the_model_s_delimiters_are_the_same_scope() {
        let text = "kiln::model!(struct Net { });\nmodel! [ pub struct Net { } ]\n";
        assert_eq!(earlier(text, 1), Some(1));
    }

    #[test]
    fn other_modules_functions_and_blocks_are_other_scopes() {
        let text = "mod a { kiln::model! { struct Net {} } }\nmod b { kiln::model! { struct Net {} } }\n\
                    fn f() { kiln::model! { struct Net {} } }\nfn g() { { kiln::model! { struct Net {} } } }\n";
        for n in 0..4 {
            assert_eq!(earlier(text, n), None, "occurrence {n}");
        }
        let same_fn =
            "fn f() {\n    kiln::model! { struct Net {} }\n    let _ = 1;\n    kiln::model! { struct Net {} }\n}\n";
        assert_eq!(earlier(same_fn, 1), Some(2));
    }

    #[test]
    fn comments_strings_and_characters_do_not_count() {
        let text = "// struct Net {\n/* struct Net { /* nested */ } */\nconst S: &str = \"struct Net { \\\" {\";\n\
                    const R: &str = r#\"struct Net \"{\"#;\nconst C: char = '{';\nfn f<'a>(x: &'a str) {}\n\
                    kiln::model! { struct Net {} }\nkiln::model! { struct Net {} }\n";
        // The comments' and strings' occurrences are not definitions: the
        // first real one is the 5th `struct Net` of the text.
        assert_eq!(earlier(text, 4), None);
        assert_eq!(earlier(text, 5), Some(7));
    }

    #[test]
    fn a_cfg_in_the_scope_turns_the_check_off() {
        let text = "#[cfg(feature = \"a\")]\nkiln::model! { struct Net {} }\n\
                    #[cfg(not(feature = \"a\"))]\nkiln::model! { struct Net {} }\n";
        assert_eq!(earlier(text, 1), None);
        let inner =
            "mod m {\n    #![cfg(test)]\n    kiln::model! { struct Net {} }\n    kiln::model! { struct Net {} }\n}\n";
        assert_eq!(earlier(inner, 1), None);
    }

    #[test]
    fn a_position_that_is_not_a_definition_is_not_checked() {
        let text = "kiln::model! { struct Net {} }\nkiln::model! { struct Net {} }\n";
        assert_eq!(earlier_in_source(text, "Net", 2, 1), None);
        assert_eq!(earlier_in_source(text, "Net", 2, 23), Some(1));
    }
}
