//! Edits of agents' config files as data: entries to set or add to lists, applied to JSON
//! (serde_json, key order kept) or TOML (toml_edit, comments and layout kept); what an edit
//! changed is recorded so that it can be taken back exactly; a line diff for `--dry-run`.

use maestro_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::Path;

/// The syntax of a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Toml,
}

/// One entry Maestro wants in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum Op {
    /// `path` holds `value` (an existing other value is the user's: kept unless forced).
    Set { path: Vec<String>, value: Value },
    /// The list at `path` contains `item`.
    Add { path: Vec<String>, item: Value },
}

impl Op {
    pub fn set(path: &[&str], value: Value) -> Self {
        Op::Set {
            path: path.iter().map(|s| s.to_string()).collect(),
            value,
        }
    }
    pub fn add(path: &[&str], item: Value) -> Self {
        Op::Add {
            path: path.iter().map(|s| s.to_string()).collect(),
            item,
        }
    }
    fn path(&self) -> &[String] {
        match self {
            Op::Set { path, .. } | Op::Add { path, .. } => path,
        }
    }
    /// `mcpServers.maestro`, `hooks.PreToolUse[+]`.
    pub fn describe(&self) -> String {
        match self {
            Op::Set { path, .. } => path.join("."),
            Op::Add {
                path,
                item: Value::String(s),
            } => format!("{} += \"{s}\"", path.join(".")),
            Op::Add { path, .. } => format!("{} += 1 entry", path.join(".")),
        }
    }
}

/// An op that changed the file, with what it replaced and the containers it created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    #[serde(flatten)]
    pub op: Op,
    /// The user's value a forced `Set` replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Value>,
    /// How many of the path's containers (from the end) did not exist before.
    #[serde(default)]
    pub created: usize,
}

/// What applying ops to one file's text gives.
#[derive(Debug, Default)]
pub struct Outcome {
    pub text: String,
    pub applied: Vec<Applied>,
    /// Ops left out because the user holds another value there: (op, the user's value).
    pub kept: Vec<(Op, Value)>,
}

fn bad_file(path: &Path, format: Format, line: usize, column: usize, msg: &str) -> Error {
    let kind = match format {
        Format::Json => "JSON",
        Format::Toml => "TOML",
    };
    Error::invalid_argument(format!(
        "{} is not valid {kind} (line {line}, column {column}): {msg}",
        path.display()
    ))
    .with_details(json!({ "path": path.display().to_string(), "line": line, "column": column }))
    .with_suggestion("Fix the file (or move it away), then run setup again; nothing was changed")
}

/// The document in `text` (empty: an empty document), or an error naming file and line.
fn parse(path: &Path, format: Format, text: &str) -> Result<Doc> {
    match format {
        Format::Json if text.trim().is_empty() => Ok(Doc::Json(Value::Object(Map::new()))),
        Format::Json => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => Ok(Doc::Json(v)),
            Ok(_) => Err(bad_file(
                path,
                format,
                1,
                1,
                "the top level must be an object",
            )),
            Err(e) => Err(bad_file(path, format, e.line(), e.column(), &e.to_string())),
        },
        Format::Toml => text
            .parse::<toml_edit::DocumentMut>()
            .map(Doc::Toml)
            .map_err(|e| {
                let start = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
                let before = &text[..start];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                bad_file(path, format, line, column, e.message())
            }),
    }
}

enum Doc {
    Json(Value),
    Toml(toml_edit::DocumentMut),
}

impl Doc {
    fn render(&self) -> String {
        match self {
            Doc::Json(v) => serde_json::to_string_pretty(v).expect("JSON renders") + "\n",
            Doc::Toml(d) => d.to_string(),
        }
    }
    fn is_empty(&self) -> bool {
        match self {
            Doc::Json(v) => v.as_object().is_some_and(Map::is_empty),
            Doc::Toml(d) => {
                d.as_table().is_empty() && d.trailing().as_str().is_none_or(|t| t.trim().is_empty())
            }
        }
    }
}

/// Applies `ops` to `text` (the file's content, empty when it does not exist).
pub fn apply(path: &Path, format: Format, text: &str, ops: &[Op], force: bool) -> Result<Outcome> {
    let mut doc = parse(path, format, text)?;
    let mut out = Outcome::default();
    for op in ops {
        match &mut doc {
            Doc::Json(v) => json_apply(v, op, force, &mut out),
            Doc::Toml(d) => toml_apply(d, op, force, &mut out)?,
        }
    }
    out.text = if out.applied.is_empty() {
        text.to_string()
    } else {
        doc.render()
    };
    Ok(out)
}

/// Takes back `applied` from `text`: each entry still as Maestro wrote it is removed (a
/// replaced value restored), with the containers it created once they are empty; entries
/// the user changed since are kept. Returns the new text (`None`: the file is left empty
/// and was created by setup), what was removed and what was kept.
pub fn remove(
    path: &Path,
    format: Format,
    text: &str,
    applied: &[Applied],
    created_file: bool,
) -> Result<(Option<String>, Vec<Applied>, Vec<Applied>)> {
    let mut doc = parse(path, format, text)?;
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for a in applied.iter().rev() {
        let done = match &mut doc {
            Doc::Json(v) => json_remove(v, a),
            Doc::Toml(d) => toml_remove(d, a)?,
        };
        if done {
            removed.push(a.clone());
        } else {
            kept.push(a.clone());
        }
    }
    if created_file && doc.is_empty() {
        return Ok((None, removed, kept));
    }
    let text = if removed.is_empty() {
        text.to_string()
    } else {
        doc.render()
    };
    Ok((Some(text), removed, kept))
}

// ---- JSON ----

/// The object at `path` (created as needed; `created` counts the new ones), or `None`
/// when something else than an object is in the way.
fn json_object<'a>(
    root: &'a mut Value,
    path: &[String],
    created: &mut usize,
) -> Option<&'a mut Map<String, Value>> {
    let mut cur = root;
    for key in path {
        let obj = cur.as_object_mut()?;
        if !obj.contains_key(key) {
            obj.insert(key.clone(), Value::Object(Map::new()));
            *created += 1;
        }
        cur = obj.get_mut(key)?;
    }
    cur.as_object_mut()
}

fn json_apply(root: &mut Value, op: &Op, force: bool, out: &mut Outcome) {
    let (parents, last) = op.path().split_at(op.path().len() - 1);
    let last = &last[0];
    let mut probe = root.clone();
    let mut created = 0;
    let Some(obj) = json_object(&mut probe, parents, &mut created) else {
        out.kept.push((op.clone(), json!("(not an object)")));
        return;
    };
    let existing = obj.get(last).cloned();
    let (new, previous) = match (op, existing) {
        (Op::Set { value, .. }, Some(v)) if &v == value => return,
        (Op::Set { .. }, Some(v)) if !force => {
            out.kept.push((op.clone(), v));
            return;
        }
        (Op::Set { value, .. }, previous) => (value.clone(), previous),
        (Op::Add { item, .. }, Some(Value::Array(list))) if list.contains(item) => return,
        (Op::Add { item, .. }, Some(Value::Array(mut list))) => {
            list.push(item.clone());
            (Value::Array(list), None)
        }
        (Op::Add { .. }, Some(other)) => {
            out.kept.push((op.clone(), other));
            return;
        }
        (Op::Add { item, .. }, None) => {
            created += 1;
            (json!([item]), None)
        }
    };
    obj.insert(last.clone(), new);
    *root = probe;
    out.applied.push(Applied {
        op: op.clone(),
        previous,
        created,
    });
}

fn json_remove(root: &mut Value, a: &Applied) -> bool {
    let path = a.op.path();
    let (parents, last) = path.split_at(path.len() - 1);
    let last = &last[0];
    let mut cur = &mut *root;
    for key in parents {
        match cur.get_mut(key) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    let Some(obj) = cur.as_object_mut() else {
        return false;
    };
    match &a.op {
        Op::Set { value, .. } => {
            if obj.get(last) != Some(value) {
                return false;
            }
            match &a.previous {
                Some(p) => obj.insert(last.clone(), p.clone()),
                None => obj.remove(last),
            };
        }
        Op::Add { item, .. } => {
            let Some(Value::Array(list)) = obj.get_mut(last) else {
                return false;
            };
            let Some(i) = list.iter().position(|x| x == item) else {
                return false;
            };
            list.remove(i);
            if list.is_empty() && a.created > 0 {
                obj.remove(last);
            }
        }
    }
    // The containers setup created, innermost first, once empty.
    let created_parents = match &a.op {
        Op::Set { .. } => a.created,
        Op::Add { .. } => a.created.saturating_sub(1),
    };
    for depth in (parents.len() - created_parents.min(parents.len())..parents.len()).rev() {
        let mut cur = &mut *root;
        for key in &parents[..depth] {
            cur = cur.get_mut(key).expect("walked above");
        }
        let obj = cur.as_object_mut().expect("an object");
        if obj
            .get(&parents[depth])
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            obj.remove(&parents[depth]);
        }
    }
    true
}

// ---- TOML ----

fn to_toml(v: &Value) -> toml_edit::Value {
    match v {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        Value::Array(a) => toml_edit::Value::Array(a.iter().map(to_toml).collect()),
        Value::Object(o) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, v) in o {
                t.insert(k, to_toml(v));
            }
            toml_edit::Value::InlineTable(t)
        }
        Value::Null => "".into(),
    }
}

fn from_toml(item: &toml_edit::Item) -> Value {
    fn value(v: &toml_edit::Value) -> Value {
        match v {
            toml_edit::Value::String(s) => json!(s.value()),
            toml_edit::Value::Integer(i) => json!(i.value()),
            toml_edit::Value::Float(f) => json!(f.value()),
            toml_edit::Value::Boolean(b) => json!(b.value()),
            toml_edit::Value::Datetime(d) => json!(d.value().to_string()),
            toml_edit::Value::Array(a) => Value::Array(a.iter().map(value).collect()),
            toml_edit::Value::InlineTable(t) => {
                Value::Object(t.iter().map(|(k, v)| (k.to_string(), value(v))).collect())
            }
        }
    }
    match item {
        toml_edit::Item::Value(v) => value(v),
        toml_edit::Item::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), from_toml(v)))
                .collect(),
        ),
        toml_edit::Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .map(|t| from_toml(&toml_edit::Item::Table(t.clone())))
                .collect(),
        ),
        toml_edit::Item::None => Value::Null,
    }
}

/// A JSON object as a TOML table (`[a.b]`), other values inline.
fn toml_item(v: &Value) -> toml_edit::Item {
    match v {
        Value::Object(o) => {
            let mut t = toml_edit::Table::new();
            for (k, v) in o {
                t.insert(k, toml_edit::Item::Value(to_toml(v)));
            }
            toml_edit::Item::Table(t)
        }
        other => toml_edit::Item::Value(to_toml(other)),
    }
}

fn toml_apply(
    doc: &mut toml_edit::DocumentMut,
    op: &Op,
    force: bool,
    out: &mut Outcome,
) -> Result<()> {
    let Op::Set { path, value } = op else {
        return Err(Error::internal("lists in TOML files are not edited"));
    };
    let (parents, last) = path.split_at(path.len() - 1);
    let mut table = doc.as_table_mut();
    let mut created = 0;
    for key in parents {
        if !table.contains_key(key) {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            table.insert(key, toml_edit::Item::Table(t));
            created += 1;
        }
        match table.get_mut(key).and_then(toml_edit::Item::as_table_mut) {
            Some(t) => table = t,
            None => {
                out.kept.push((op.clone(), json!("(not a table)")));
                return Ok(());
            }
        }
    }
    let previous = table.get(&last[0]).map(from_toml);
    match &previous {
        Some(v) if v == value => return Ok(()),
        Some(v) if !force => {
            out.kept.push((op.clone(), v.clone()));
            return Ok(());
        }
        _ => {}
    }
    table.insert(&last[0], toml_item(value));
    out.applied.push(Applied {
        op: op.clone(),
        previous,
        created,
    });
    Ok(())
}

fn toml_remove(doc: &mut toml_edit::DocumentMut, a: &Applied) -> Result<bool> {
    let Op::Set { path, value } = &a.op else {
        return Ok(false);
    };
    let (parents, last) = path.split_at(path.len() - 1);
    let mut table = doc.as_table_mut();
    for key in parents {
        match table.get_mut(key).and_then(toml_edit::Item::as_table_mut) {
            Some(t) => table = t,
            None => return Ok(false),
        }
    }
    if table.get(&last[0]).map(from_toml).as_ref() != Some(value) {
        return Ok(false);
    }
    match &a.previous {
        Some(p) => {
            table.insert(&last[0], toml_item(p));
        }
        None => {
            table.remove(&last[0]);
        }
    }
    // Empty tables setup created go too.
    for depth in (parents.len() - a.created.min(parents.len())..parents.len()).rev() {
        let mut t = doc.as_table_mut();
        for key in &parents[..depth] {
            t = t
                .get_mut(key)
                .and_then(toml_edit::Item::as_table_mut)
                .expect("walked above");
        }
        if t.get(&parents[depth])
            .and_then(toml_edit::Item::as_table)
            .is_some_and(|x| x.is_empty())
        {
            t.remove(&parents[depth]);
        }
    }
    Ok(true)
}

// ---- diff ----

/// A unified-style line diff of `before` and `after` (unchanged runs shortened).
pub fn diff(label: &str, before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    // Longest common subsequence table, from the ends.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            lines.push(('+', b[j]));
            j += 1;
        } else {
            lines.push(('-', a[i]));
            i += 1;
        }
    }
    let near_change = |k: usize| {
        lines[k.saturating_sub(2)..(k + 3).min(lines.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut out = format!("--- {label}\n+++ {label}\n");
    let mut skipping = false;
    for (k, (c, l)) in lines.iter().enumerate() {
        if *c == ' ' && !near_change(k) {
            if !skipping {
                out.push_str("  …\n");
                skipping = true;
            }
            continue;
        }
        skipping = false;
        out.push_str(&format!("{c} {l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("cfg")
    }

    #[test]
    fn json_entries_merge_keep_the_users_and_come_back_out() {
        let text = r#"{"zeta": 1, "mcpServers": {"mine": {"command": "x"}}, "hooks": {"PreToolUse": [{"a": 1}]}}"#;
        let ops = [
            Op::set(&["mcpServers", "maestro"], json!({"command": "maestro"})),
            Op::add(&["hooks", "PreToolUse"], json!({"b": 2})),
            Op::add(&["permissions", "allow"], json!("mcp__maestro")),
        ];
        let out = apply(p(), Format::Json, text, &ops, false).unwrap();
        assert_eq!(out.applied.len(), 3);
        let v: Value = serde_json::from_str(&out.text).unwrap();
        // The user's keys stay, in their order.
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["zeta", "mcpServers", "hooks", "permissions"]);
        assert_eq!(v["mcpServers"]["mine"]["command"], "x");
        assert_eq!(v["hooks"]["PreToolUse"], json!([{"a": 1}, {"b": 2}]));
        // Twice: nothing more.
        let again = apply(p(), Format::Json, &out.text, &ops, false).unwrap();
        assert!(again.applied.is_empty());
        assert_eq!(again.text, out.text);
        // Removed: the original document.
        let (back, removed, kept) =
            remove(p(), Format::Json, &out.text, &out.applied, false).unwrap();
        assert_eq!((removed.len(), kept.len()), (3, 0));
        let orig: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&back.unwrap()).unwrap(), orig);
    }

    #[test]
    fn a_users_value_is_kept_unless_forced_and_then_restored() {
        let text = r#"{"mcpServers": {"maestro": {"command": "/opt/maestro"}}}"#;
        let ops = [Op::set(
            &["mcpServers", "maestro"],
            json!({"command": "maestro"}),
        )];
        let out = apply(p(), Format::Json, text, &ops, false).unwrap();
        assert!(out.applied.is_empty());
        assert_eq!(out.kept[0].1, json!({"command": "/opt/maestro"}));
        assert_eq!(out.text, text);
        let forced = apply(p(), Format::Json, text, &ops, true).unwrap();
        assert_eq!(
            forced.applied[0].previous,
            Some(json!({"command": "/opt/maestro"}))
        );
        let (back, ..) = remove(p(), Format::Json, &forced.text, &forced.applied, false).unwrap();
        let v: Value = serde_json::from_str(&back.unwrap()).unwrap();
        assert_eq!(v["mcpServers"]["maestro"]["command"], "/opt/maestro");
    }

    #[test]
    fn an_entry_the_user_changed_since_is_not_removed() {
        let ops = [Op::set(&["a", "b"], json!(1))];
        let out = apply(p(), Format::Json, "", &ops, false).unwrap();
        let edited = out.text.replace('1', "2");
        let (back, removed, kept) = remove(p(), Format::Json, &edited, &out.applied, true).unwrap();
        assert_eq!((removed.len(), kept.len()), (0, 1));
        assert_eq!(back.unwrap(), edited);
        // Untouched, a file setup created goes away whole.
        let (gone, ..) = remove(p(), Format::Json, &out.text, &out.applied, true).unwrap();
        assert!(gone.is_none());
    }

    #[test]
    fn toml_keeps_comments_and_layout() {
        let text =
            "# my settings\nmodel = \"o3\" # the best\n\n[mcp_servers.other]\ncommand = \"x\"\n";
        let ops = [Op::set(
            &["mcp_servers", "maestro"],
            json!({"command": "maestro", "args": ["mcp"]}),
        )];
        let out = apply(p(), Format::Toml, text, &ops, false).unwrap();
        assert!(out.text.starts_with(text), "{}", out.text);
        assert!(
            out.text
                .contains("[mcp_servers.maestro]\ncommand = \"maestro\"\nargs = [\"mcp\"]\n"),
            "{}",
            out.text
        );
        let (back, removed, _) = remove(p(), Format::Toml, &out.text, &out.applied, false).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(back.unwrap(), text);
    }

    #[test]
    fn invalid_files_are_refused_with_their_line() {
        let e = apply(p(), Format::Json, "{\n  \"a\": 1,\n  oops\n}", &[], false).unwrap_err();
        assert_eq!(e.details()["line"], 3, "{e:?}");
        let e = apply(p(), Format::Toml, "a = 1\nb = = 2\n", &[], false).unwrap_err();
        assert_eq!(e.details()["line"], 2, "{e:?}");
        assert!(e.message().contains("cfg"), "{}", e.message());
    }

    #[test]
    fn diffs_show_added_lines() {
        let d = diff("f", "a\nb\nc\n", "a\nb\nx\nc\n");
        assert!(d.contains("+ x\n") && d.contains("  b\n"), "{d}");
        assert!(!d.lines().any(|l| l.starts_with("- ")), "{d}");
    }
}
