//! Skills: the instructions agents load (SPEC §7).
//!
//! A skill is a folder with a `manifest.json` and a `SKILL.md` (YAML front matter `name` and
//! `description`, then the instructions). Three skills are bundled into the binary; skills
//! found in the skills directory (`MAESTRO_SKILLS_DIR`, default
//! `~/.agents-ui/maestro-skills`) override bundled ones by name. [`SkillSet::resolve`]
//! follows `dependencies` transitively and orders the result by priority.

mod install;

pub use install::{
    InstallAction, InstallReport, InstalledFile, UninstallReport, install, uninstall,
};

use crate::config::Env;
use crate::error::{Code, Error, Result};
use crate::model::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest file of a skill folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The instructions file of a skill folder.
pub const SKILL_FILE: &str = "SKILL.md";

/// The skill every agent gets: the command reference.
pub const CLI_SKILL: &str = "maestro-cli";
/// The default skill of a worker session.
pub const WORKER_SKILL: &str = "maestro-worker";
/// The default skill of an orchestrator session.
pub const ORCHESTRATOR_SKILL: &str = "maestro-orchestrator";

/// A skill compiled into the binary: its name and the text of its two files.
#[derive(Debug, Clone, Copy)]
pub struct BundledSkill {
    pub name: &'static str,
    pub manifest: &'static str,
    pub skill_md: &'static str,
}

macro_rules! bundled {
    ($($name:literal),+ $(,)?) => {
        &[$(BundledSkill {
            name: $name,
            manifest: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../skills/", $name, "/manifest.json")),
            skill_md: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../skills/", $name, "/SKILL.md")),
        }),+]
    };
}

/// The bundled skills, as shipped in `skills/`.
pub const BUNDLED: &[BundledSkill] =
    bundled!("maestro-cli", "maestro-worker", "maestro-orchestrator");

/// `system` skills apply to every agent; `role` skills to the roles in `assignTo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillType {
    System,
    Role,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: SkillType,
    #[serde(default)]
    pub assign_to: Vec<Role>,
    /// Higher comes first when skills are composed.
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Names of the skills this one needs.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub config: Map<String, Value>,
}

/// Where a skill was loaded from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum SkillSource {
    /// Compiled into the binary.
    Bundled,
    /// A folder on disk.
    Dir(PathBuf),
}

/// A loaded skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skill {
    #[serde(flatten)]
    pub manifest: Manifest,
    pub source: SkillSource,
    /// The whole `SKILL.md`, front matter included.
    pub skill_md: String,
}

impl Skill {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Parses a skill from the text of its two files.
    pub fn parse(manifest: &str, skill_md: &str, source: SkillSource) -> Result<Self> {
        let at = match &source {
            SkillSource::Bundled => "bundled skill".to_string(),
            SkillSource::Dir(p) => p.display().to_string(),
        };
        let manifest: Manifest = serde_json::from_str(manifest).map_err(|e| {
            Error::invalid_argument(format!(
                "{at}: {MANIFEST_FILE} is not a valid manifest: {e}"
            ))
            .with_details(json!({ "path": at }))
            .with_suggestion("A manifest needs name, version, description and type (system|role)")
        })?;
        let front = front_matter(skill_md).map_err(|m| {
            Error::invalid_argument(format!("{at}: {SKILL_FILE} {m}"))
                .with_details(json!({ "path": at }))
                .with_suggestion(
                    "Start SKILL.md with a '---' block holding 'name:' and 'description:'",
                )
        })?;
        if front.name != manifest.name {
            return Err(Error::invalid_argument(format!(
                "{at}: {SKILL_FILE} is named '{}' but {MANIFEST_FILE} '{}'",
                front.name, manifest.name
            ))
            .with_details(json!({ "path": at }))
            .with_suggestion("Use the same name in both files"));
        }
        Ok(Self {
            manifest,
            source,
            skill_md: skill_md.to_string(),
        })
    }

    /// The instructions: `SKILL.md` without its front matter.
    pub fn instructions(&self) -> &str {
        split_front_matter(&self.skill_md)
            .map(|(_, body)| body)
            .unwrap_or(&self.skill_md)
            .trim()
    }

    /// Whether the skill is meant for `role` (system skills are meant for everyone).
    pub fn applies_to(&self, role: Role) -> bool {
        self.manifest.kind == SkillType::System || self.manifest.assign_to.contains(&role)
    }
}

/// The front matter fields Maestro reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontMatter {
    pub name: String,
    pub description: String,
}

fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Reads `name` and `description` from the YAML front matter of a `SKILL.md` (plain
/// `key: value` lines, values optionally quoted).
pub fn front_matter(skill_md: &str) -> std::result::Result<FrontMatter, String> {
    let (head, _) = split_front_matter(skill_md)
        .ok_or_else(|| "has no front matter between '---' lines".to_string())?;
    let mut fields = BTreeMap::new();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':')
            && !k.starts_with(' ')
        {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                .unwrap_or(v);
            fields.insert(k.trim().to_string(), v.to_string());
        }
    }
    let mut get = |k: &str| {
        fields
            .remove(k)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("front matter has no '{k}'"))
    };
    Ok(FrontMatter {
        name: get("name")?,
        description: get("description")?,
    })
}

/// The skills directory: `MAESTRO_SKILLS_DIR`, default `~/.agents-ui/maestro-skills`.
pub fn skills_dir(env: &Env) -> PathBuf {
    if let Some(d) = env.var("MAESTRO_SKILLS_DIR") {
        let p = Path::new(d);
        return if p.is_absolute() {
            p.to_path_buf()
        } else {
            env.cwd().join(p)
        };
    }
    home(env).join(".agents-ui").join("maestro-skills")
}

/// Where Claude Code looks for user skills: `~/.claude/skills`.
pub fn claude_skills_dir(env: &Env) -> PathBuf {
    home(env).join(".claude").join("skills")
}

fn home(env: &Env) -> PathBuf {
    env.var("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| env.cwd().to_path_buf())
}

/// A set of skills by name.
#[derive(Debug, Clone, Default)]
pub struct SkillSet {
    skills: BTreeMap<String, Skill>,
}

impl SkillSet {
    /// The bundled skills only.
    pub fn bundled() -> Self {
        let mut set = Self::default();
        for b in BUNDLED {
            let skill = Skill::parse(b.manifest, b.skill_md, SkillSource::Bundled)
                .expect("bundled skills are valid (checked by tests)");
            set.insert(skill);
        }
        set
    }

    /// The bundled skills, overridden by name by the skills found in `dir` (if it exists).
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut set = Self::bundled();
        if let Some(dir) = dir {
            for skill in load_dir(dir)? {
                set.insert(skill);
            }
        }
        Ok(set)
    }

    pub fn insert(&mut self, skill: Skill) {
        self.skills.insert(skill.manifest.name.clone(), skill);
    }

    /// Every skill, by priority (highest first) then name.
    pub fn list(&self) -> Vec<&Skill> {
        let mut v: Vec<&Skill> = self.skills.values().collect();
        v.sort_by(|a, b| {
            b.manifest
                .priority
                .cmp(&a.manifest.priority)
                .then_with(|| a.name().cmp(b.name()))
        });
        v
    }

    pub fn get(&self, name: &str) -> Result<&Skill> {
        self.skills.get(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = self.skills.keys().map(String::as_str).collect();
            Error::new(
                Code::SkillNotFound,
                format!("Skill '{name}' does not exist"),
            )
            .with_details(json!({ "skill": name, "available": known }))
            .with_suggestion(format!(
                "Run 'maestro skill list'; available: {}",
                known.join(", ")
            ))
        })
    }

    /// `names` and everything they depend on, transitively, ordered by priority (highest
    /// first) then name. A missing skill fails with `skill_not_found` (naming who needs it), a
    /// dependency cycle with `dependency_cycle` and the cycle path.
    pub fn resolve(&self, names: &[&str]) -> Result<Vec<&Skill>> {
        let mut done: BTreeMap<&str, &Skill> = BTreeMap::new();
        for name in names {
            let mut path = Vec::new();
            self.visit(name, None, &mut path, &mut done)?;
        }
        let mut out: Vec<&Skill> = done.into_values().collect();
        out.sort_by(|a, b| {
            b.manifest
                .priority
                .cmp(&a.manifest.priority)
                .then_with(|| a.name().cmp(b.name()))
        });
        Ok(out)
    }

    fn visit<'a>(
        &'a self,
        name: &str,
        needed_by: Option<&str>,
        path: &mut Vec<String>,
        done: &mut BTreeMap<&'a str, &'a Skill>,
    ) -> Result<()> {
        if let Some(start) = path.iter().position(|p| p == name) {
            let mut cycle: Vec<String> = path[start..].to_vec();
            cycle.push(name.to_string());
            return Err(Error::new(
                Code::DependencyCycle,
                format!("Skill dependencies form a cycle: {}", cycle.join(" → ")),
            )
            .with_details(json!({ "cycle": cycle }))
            .with_suggestion("Remove one of these dependencies from a manifest.json"));
        }
        if done.contains_key(name) {
            return Ok(());
        }
        let skill = self.get(name).map_err(|e| match needed_by {
            Some(parent) => Error::new(
                Code::SkillNotFound,
                format!("Skill '{parent}' depends on '{name}', which does not exist"),
            )
            .with_details(json!({ "skill": name, "neededBy": parent }))
            .with_suggestion(
                e.suggestion()
                    .unwrap_or("Run 'maestro skill list'")
                    .to_string(),
            ),
            None => e,
        })?;
        path.push(name.to_string());
        for dep in &skill.manifest.dependencies {
            self.visit(dep, Some(name), path, done)?;
        }
        path.pop();
        done.insert(skill.name(), skill);
        Ok(())
    }
}

/// The skills in the sub-folders of `dir` that hold a `manifest.json`. A missing `dir` has none.
pub fn load_dir(dir: &Path) -> Result<Vec<Skill>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::storage(format!(
                "cannot read the skills directory {}: {e}",
                dir.display()
            )));
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .collect();
    paths.sort();
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::storage(format!("cannot read {}: {e}", p.display())))
    };
    paths
        .into_iter()
        .map(|p| {
            let manifest = read(&p.join(MANIFEST_FILE))?;
            let skill_md = read(&p.join(SKILL_FILE))?;
            Skill::parse(&manifest, &skill_md, SkillSource::Dir(p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(name: &str, priority: i64, deps: &[&str]) -> Skill {
        let manifest = json!({
            "name": name, "version": "1.0.0", "description": "d", "type": "role",
            "assignTo": ["worker"], "priority": priority, "dependencies": deps,
        });
        let md = format!("---\nname: {name}\ndescription: \"about {name}\"\n---\n\n# {name}\n");
        Skill::parse(&manifest.to_string(), &md, SkillSource::Bundled).unwrap()
    }

    #[test]
    fn bundled_skills_parse_and_depend_on_the_cli_reference() {
        let set = SkillSet::bundled();
        let names: Vec<&str> = set.list().iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            vec![CLI_SKILL, ORCHESTRATOR_SKILL, WORKER_SKILL],
            "the system skill comes first"
        );
        let worker = set.resolve(&[WORKER_SKILL]).unwrap();
        let names: Vec<&str> = worker.iter().map(|s| s.name()).collect();
        assert_eq!(names, vec![CLI_SKILL, WORKER_SKILL]);
        assert!(set.get(WORKER_SKILL).unwrap().applies_to(Role::Worker));
        assert!(
            !set.get(WORKER_SKILL)
                .unwrap()
                .applies_to(Role::Orchestrator)
        );
        assert!(set.get(CLI_SKILL).unwrap().applies_to(Role::Orchestrator));
        let body = set.get(WORKER_SKILL).unwrap().instructions();
        assert!(body.starts_with("# Working on a Maestro task"), "{body}");
    }

    #[test]
    fn resolution_is_transitive_ordered_and_reports_missing_and_cycles() {
        let mut set = SkillSet::default();
        set.insert(skill("a", 1, &["b"]));
        set.insert(skill("b", 5, &["c"]));
        set.insert(skill("c", 3, &[]));
        let names: Vec<&str> = set
            .resolve(&["a"])
            .unwrap()
            .iter()
            .map(|s| s.name())
            .collect();
        assert_eq!(names, vec!["b", "c", "a"]);

        set.insert(skill("d", 0, &["zzz"]));
        let e = set.resolve(&["d"]).unwrap_err();
        assert_eq!(e.code(), Code::SkillNotFound);
        assert_eq!(e.details()["neededBy"], "d");
        assert_eq!(
            set.resolve(&["nope"]).unwrap_err().code(),
            Code::SkillNotFound
        );

        set.insert(skill("c", 3, &["a"]));
        let e = set.resolve(&["a"]).unwrap_err();
        assert_eq!(e.code(), Code::DependencyCycle);
        assert_eq!(e.details()["cycle"], json!(["a", "b", "c", "a"]));
        assert!(e.message().contains("a → b → c → a"), "{}", e.message());
    }

    #[test]
    fn front_matter_is_required_and_must_match_the_manifest() {
        let m = json!({"name": "x", "version": "1", "description": "d", "type": "system"});
        let e = Skill::parse(&m.to_string(), "# no front matter", SkillSource::Bundled);
        assert_eq!(e.unwrap_err().code(), Code::InvalidArgument);
        let e = Skill::parse(
            &m.to_string(),
            "---\nname: y\ndescription: d\n---\nbody",
            SkillSource::Bundled,
        );
        assert!(e.unwrap_err().message().contains("'y'"));
        let ok = Skill::parse(
            &m.to_string(),
            "---\nname: 'x'\ndescription: d: with colon\n---\nbody\n",
            SkillSource::Bundled,
        )
        .unwrap();
        assert_eq!(ok.instructions(), "body");
        assert_eq!(
            front_matter(&ok.skill_md).unwrap().description,
            "d: with colon"
        );
    }

    #[test]
    fn skills_on_disk_override_bundled_ones_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join(WORKER_SKILL);
        std::fs::create_dir_all(&d).unwrap();
        let b = BUNDLED.iter().find(|b| b.name == WORKER_SKILL).unwrap();
        std::fs::write(d.join(MANIFEST_FILE), b.manifest).unwrap();
        std::fs::write(
            d.join(SKILL_FILE),
            format!("{}\nLocal rule: run the linter.\n", b.skill_md),
        )
        .unwrap();
        std::fs::create_dir_all(tmp.path().join("not-a-skill")).unwrap();
        let set = SkillSet::load(Some(tmp.path())).unwrap();
        let w = set.get(WORKER_SKILL).unwrap();
        assert_eq!(w.source, SkillSource::Dir(d));
        assert!(w.instructions().ends_with("Local rule: run the linter."));
        assert_eq!(set.get(CLI_SKILL).unwrap().source, SkillSource::Bundled);
        assert_eq!(set.list().len(), 3);
        // A missing directory is no error.
        assert!(SkillSet::load(Some(&tmp.path().join("none"))).is_ok());
    }

    #[test]
    fn the_skills_dir_follows_the_environment() {
        let env = Env::from_parts([("HOME".to_string(), "/home/u".to_string())], "/w");
        assert_eq!(
            skills_dir(&env),
            PathBuf::from("/home/u/.agents-ui/maestro-skills")
        );
        assert_eq!(
            claude_skills_dir(&env),
            PathBuf::from("/home/u/.claude/skills")
        );
        let env = Env::from_parts([("MAESTRO_SKILLS_DIR".to_string(), "sk".to_string())], "/w");
        assert_eq!(skills_dir(&env), PathBuf::from("/w/sk"));
    }
}
