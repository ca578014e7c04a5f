//! Projects and the store's default project.

use super::resolve::{self, DEFAULT_PROJECT};
use super::{ReadOp, Rows, WriteOp, emit};
use crate::error::Result;
use crate::id::{self, IdKind};
use crate::model::*;
use crate::rules::ownership::Actor;
use crate::store::{NewProject, ProjectInit};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CreateProject(pub NewProject);

impl WriteOp for CreateProject {
    type Output = ProjectInit;
    const NAME: &'static str = "project.create";

    async fn run<R: Rows>(&self, rows: &mut R, _: Actor<'_>) -> Result<ProjectInit> {
        let name = self.0.name.trim();
        if self.0.reuse_by_name {
            let mut same: Vec<Project> = rows
                .projects()
                .await?
                .into_iter()
                .filter(|p| p.name == name)
                .collect();
            if !same.is_empty() {
                let default = resolve::default_project_id(rows).await?;
                let pick = same
                    .iter()
                    .position(|p| Some(&p.id) == default.as_ref())
                    .unwrap_or(0);
                let mut project = same.swap_remove(pick);
                project.default = default.as_deref() == Some(project.id.as_str());
                return Ok(ProjectInit {
                    project,
                    created: false,
                });
            }
        }
        let now = rows.now();
        let mut project = Project {
            id: id::new_id(IdKind::Project),
            name: name.to_string(),
            created_at: ts(now),
            default: false,
        };
        rows.insert_project(&project).await?;
        let previous = resolve::default_project_id(rows).await?;
        if self.0.make_default || previous.is_none() {
            rows.set_meta(DEFAULT_PROJECT, &project.id).await?;
            project.default = true;
        }
        emit(rows, EventType::ProjectCreated, &project.id, &project).await?;
        if project.default
            && let Some(old) = previous
        {
            let old = resolve::get_project(rows, &old).await?;
            emit(rows, EventType::ProjectUpdated, &old.id, &old).await?;
        }
        Ok(ProjectInit {
            project,
            created: true,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SetDefaultProject {
    pub id: String,
}

impl WriteOp for SetDefaultProject {
    type Output = Project;
    const NAME: &'static str = "project.use";

    async fn run<R: Rows>(&self, rows: &mut R, _: Actor<'_>) -> Result<Project> {
        let mut project = resolve::get_project(rows, &self.id).await?;
        if project.default {
            return Ok(project);
        }
        let previous = resolve::default_project_id(rows).await?;
        rows.set_meta(DEFAULT_PROJECT, &project.id).await?;
        project.default = true;
        emit(rows, EventType::ProjectUpdated, &project.id, &project).await?;
        if let Some(old) = previous
            && let Ok(old) = resolve::get_project(rows, &old).await
        {
            emit(rows, EventType::ProjectUpdated, &old.id, &old).await?;
        }
        Ok(project)
    }
}

pub struct ListProjects;

impl ReadOp for ListProjects {
    type Output = Vec<Project>;

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Vec<Project>> {
        let default = resolve::default_project_id(rows).await?;
        let mut out = rows.projects().await?;
        for p in &mut out {
            p.default = default.as_deref() == Some(p.id.as_str());
        }
        Ok(out)
    }
}

/// The project named (by id or prefix), or the default one.
pub struct GetProject(pub Option<String>);

impl ReadOp for GetProject {
    type Output = Project;
    fn is_short(&self) -> bool {
        true
    }

    async fn run<R: Rows>(&self, rows: &mut R) -> Result<Project> {
        resolve::project(rows, self.0.as_deref()).await
    }
}
