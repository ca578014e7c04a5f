//! The `maestro …` commands an error's suggestion names.
//!
//! A suggestion names a command either between single quotes (`Run 'maestro task list'`) or
//! unquoted to the end of its clause (`e.g. maestro config set budget '{"maxTokens": 5}'`,
//! ending at `;`, `)`, `, `, ` or ` or the end). Inside a command, single and double quotes
//! group words as a shell does; `<placeholders>` stand for values the reader fills in.

/// Every command `text` names, split into its arguments (the first is `maestro`).
pub fn commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("maestro ").map(|i| i + from) {
        let before = text[..at].chars().next_back();
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || "-_/.".contains(c)));
        if starts_word {
            let (args, len) = split(&text[at..], before == Some('\''));
            out.push(args);
            from = at + len.max(1);
        } else {
            from = at + 1;
        }
    }
    out
}

/// Whether the real parser takes `words` (a command of a suggestion), with each
/// `<placeholder>` filled in; asking for help or the version counts as taken.
pub fn parses(words: &[String]) -> bool {
    use clap::CommandFactory;
    use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
    let filled: Vec<String> = words.iter().map(|w| fill_placeholders(w)).collect();
    match crate::cli::Cli::command().try_get_matches_from(&filled) {
        Ok(_) => true,
        Err(e) => matches!(e.kind(), DisplayHelp | DisplayVersion),
    }
}

/// `<id>` and the like become a value the parser takes.
pub fn fill_placeholders(word: &str) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(open) = rest.find('<') {
        match rest[open..].find('>') {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push_str("x1");
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Splits one command off the start of `text`; returns its words and its length in bytes.
fn split(text: &str, quoted: bool) -> (Vec<String>, usize) {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut end = text.len();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'') if quoted => {
                end = i;
                break;
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, ';' | ')' | '(') => {
                end = i;
                break;
            }
            (None, ',') if next.is_none_or(char::is_whitespace) => {
                end = i;
                break;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if !quoted && text[i..].starts_with(" or ") {
                    end = i;
                    break;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    // A sentence's full stop is not part of its last word.
    if !quoted
        && let Some(last) = words.last_mut()
        && last.ends_with('.')
        && last.len() > 1
    {
        last.pop();
    }
    (words, end)
}

#[cfg(test)]
mod tests {
    use super::commands;

    fn c(text: &str) -> Vec<String> {
        commands(text).into_iter().map(|w| w.join(" ")).collect()
    }

    #[test]
    fn quoted_and_unquoted_commands_are_found() {
        assert_eq!(
            c("Run 'maestro task list' to see tasks, or 'maestro init' to create one"),
            ["maestro task list", "maestro init"]
        );
        assert_eq!(
            c("Set it, e.g. maestro config set budget '{\"maxTokens\": 5}'"),
            ["maestro config set budget {\"maxTokens\": 5}"]
        );
        assert_eq!(
            c("Configure it on the server (maestro serve); clients cannot"),
            ["maestro serve"]
        );
        assert_eq!(
            c("Use rebase: maestro config set merge.strategy squash."),
            ["maestro config set merge.strategy squash"]
        );
        assert_eq!(
            c("Claim: maestro task claim --next, or pass a task id"),
            ["maestro task claim --next"]
        );
        assert_eq!(
            c("Give a title: 'maestro task create \"Write the parser\"'"),
            ["maestro task create Write the parser"]
        );
        assert_eq!(
            commands("the maestro-worker skill; /usr/bin/maestro x").len(),
            0
        );
    }
}
