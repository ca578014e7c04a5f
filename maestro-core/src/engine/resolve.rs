//! Ids and unique prefixes, and the project an operation acts on.

use super::Rows;
use crate::error::{Code, Error, Result};
use crate::id::{self, IdKind};
use crate::model::Project;
use serde_json::json;

/// The meta key of the default project.
pub(crate) const DEFAULT_PROJECT: &str = "default_project";

fn not_found(kind: IdKind, input: &str) -> Error {
    match kind {
        IdKind::Task => Error::task_not_found(input),
        IdKind::Subtask => Error::subtask_not_found(input),
        IdKind::Session => Error::session_not_found(input),
        IdKind::Project => Error::project_not_found(input),
        IdKind::Op => Error::new(Code::NotFound, format!("'{input}' does not exist")),
    }
}

/// Resolves an id or a unique id prefix of `kind`.
pub async fn resolve<R: Rows>(rows: &mut R, kind: IdKind, input: &str) -> Result<String> {
    let norm = id::normalize(kind, input)?;
    if rows.id_exists(kind, &norm).await? {
        return Ok(norm);
    }
    let matches = rows.ids_with_prefix(kind, &norm, 6).await?;
    match matches.len() {
        0 => Err(not_found(kind, input.trim())),
        1 => Ok(matches.into_iter().next().expect("one match")),
        _ => Err(
            Error::new(Code::AmbiguousId, format!("'{input}' matches several ids"))
                .with_details(json!({ "prefix": input, "matches": matches }))
                .with_suggestion("Type more characters of the id"),
        ),
    }
}

pub(crate) async fn default_project_id<R: Rows>(rows: &mut R) -> Result<Option<String>> {
    rows.meta(DEFAULT_PROJECT).await
}

/// A project by id or prefix, with its `default` flag.
pub(crate) async fn get_project<R: Rows>(rows: &mut R, input: &str) -> Result<Project> {
    let id = resolve(rows, IdKind::Project, input).await?;
    let mut p = rows
        .project(&id)
        .await?
        .ok_or_else(|| Error::project_not_found(&id))?;
    p.default = default_project_id(rows).await?.as_deref() == Some(p.id.as_str());
    Ok(p)
}

/// The project `input` names, or the default project.
pub(crate) async fn project<R: Rows>(rows: &mut R, input: Option<&str>) -> Result<Project> {
    match input {
        Some(id) => get_project(rows, id).await,
        None => match default_project_id(rows).await? {
            Some(id) => {
                let mut p = rows
                    .project(&id)
                    .await?
                    .ok_or_else(Error::no_project_context)?;
                p.default = true;
                Ok(p)
            }
            None => Err(Error::no_project_context()),
        },
    }
}
