//! Writing the bundled skills to a directory without clobbering the user's edits.
//!
//! Each installed skill folder gets a `.maestro-install.json` recording a hash of every file
//! as it was written. A later install replaces a file only when it still has that hash (the
//! user did not touch it), unless forced.

use super::{BundledSkill, MANIFEST_FILE, SKILL_FILE};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The per-skill record of what was installed.
pub const RECORD_FILE: &str = ".maestro-install.json";

/// What an install did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallAction {
    /// The file did not exist.
    Created,
    /// The file was replaced (unchanged since the last install, or forced).
    Updated,
    /// The file already had the bundled content.
    Unchanged,
    /// The file was edited since it was installed and was left alone.
    Kept,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledFile {
    pub skill: String,
    pub path: PathBuf,
    pub action: InstallAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallReport {
    pub dir: PathBuf,
    pub files: Vec<InstalledFile>,
}

impl InstallReport {
    /// Files left alone because the user edited them.
    pub fn kept(&self) -> impl Iterator<Item = &InstalledFile> {
        self.files
            .iter()
            .filter(|f| f.action == InstallAction::Kept)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    version: String,
    /// File name → hash of the content written.
    files: BTreeMap<String, String>,
}

/// FNV-1a, 64 bits: stable across builds and platforms, enough to notice an edit.
fn hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::storage(format!("cannot write {}: {e}", path.display()))
        .with_details(serde_json::json!({ "path": path.display().to_string() }))
        .with_suggestion("Check the directory's permissions, or pass another --dir")
}

/// Writes `skills` into `dir/<name>/`. Files edited since the last install are kept unless
/// `force`.
pub fn install(skills: &[BundledSkill], dir: &Path, force: bool) -> Result<InstallReport> {
    let mut files = Vec::new();
    for skill in skills {
        let folder = dir.join(skill.name);
        std::fs::create_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
        let record_path = folder.join(RECORD_FILE);
        let mut record: Record = std::fs::read_to_string(&record_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let version = serde_json::from_str::<serde_json::Value>(skill.manifest)
            .ok()
            .and_then(|m| m["version"].as_str().map(str::to_string))
            .unwrap_or_default();
        for (name, content) in [
            (MANIFEST_FILE, skill.manifest),
            (SKILL_FILE, skill.skill_md),
        ] {
            let path = folder.join(name);
            let new_hash = hash(content.as_bytes());
            let action = match std::fs::read(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => InstallAction::Created,
                Err(e) => return Err(io_error(&path, e)),
                Ok(existing) if existing == content.as_bytes() => InstallAction::Unchanged,
                Ok(existing) => {
                    let untouched = record.files.get(name) == Some(&hash(&existing));
                    if untouched || force {
                        InstallAction::Updated
                    } else {
                        InstallAction::Kept
                    }
                }
            };
            if matches!(action, InstallAction::Created | InstallAction::Updated) {
                std::fs::write(&path, content).map_err(|e| io_error(&path, e))?;
            }
            if action != InstallAction::Kept {
                record.files.insert(name.to_string(), new_hash);
            }
            files.push(InstalledFile {
                skill: skill.name.to_string(),
                path,
                action,
            });
        }
        record.version = version;
        let text = serde_json::to_string_pretty(&record)? + "\n";
        std::fs::write(&record_path, text).map_err(|e| io_error(&record_path, e))?;
    }
    Ok(InstallReport {
        dir: dir.to_path_buf(),
        files,
    })
}

/// What [`uninstall`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UninstallReport {
    pub dir: PathBuf,
    /// Files removed: they were as installed.
    pub removed: Vec<PathBuf>,
    /// Files left: edited since they were installed.
    pub kept: Vec<PathBuf>,
}

/// Takes back what [`install`] wrote into `dir/<name>/`: each file still as it was written
/// (its recorded hash), the record, and the folder once empty. Edited files stay.
pub fn uninstall(skills: &[BundledSkill], dir: &Path) -> Result<UninstallReport> {
    let mut report = UninstallReport {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    for skill in skills {
        let folder = dir.join(skill.name);
        let record_path = folder.join(RECORD_FILE);
        let Some(record) = std::fs::read_to_string(&record_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Record>(&t).ok())
        else {
            continue;
        };
        for (name, recorded) in &record.files {
            let path = folder.join(name);
            match std::fs::read(&path) {
                Ok(bytes) if &hash(&bytes) == recorded => {
                    std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
                    report.removed.push(path);
                }
                Ok(_) => report.kept.push(path),
                Err(_) => {}
            }
        }
        std::fs::remove_file(&record_path).map_err(|e| io_error(&record_path, e))?;
        // Only an empty folder goes.
        let _ = std::fs::remove_dir(&folder);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skills::{BUNDLED, SkillSet, SkillSource};

    fn actions(r: &InstallReport) -> Vec<InstallAction> {
        r.files.iter().map(|f| f.action).collect()
    }

    #[test]
    fn installs_then_keeps_edits_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let r = install(BUNDLED, dir, false).unwrap();
        assert_eq!(r.files.len(), 6);
        assert!(actions(&r).iter().all(|a| *a == InstallAction::Created));
        let set = SkillSet::load(Some(dir)).unwrap();
        assert!(
            set.list()
                .iter()
                .all(|s| matches!(s.source, SkillSource::Dir(_)))
        );

        // Again: nothing to do.
        let r = install(BUNDLED, dir, false).unwrap();
        assert!(actions(&r).iter().all(|a| *a == InstallAction::Unchanged));

        // The user edits one file: it survives a reinstall, and keeps surviving.
        let edited = dir.join("maestro-worker").join(SKILL_FILE);
        let mine = std::fs::read_to_string(&edited).unwrap() + "\nMy team's rule.\n";
        std::fs::write(&edited, &mine).unwrap();
        for _ in 0..2 {
            let r = install(BUNDLED, dir, false).unwrap();
            let kept: Vec<&InstalledFile> = r.kept().collect();
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].path, edited);
            assert_eq!(std::fs::read_to_string(&edited).unwrap(), mine);
        }

        // A file installed by an older version (recorded hash matches) is updated.
        let cli = dir.join("maestro-cli").join(SKILL_FILE);
        let old = "---\nname: maestro-cli\ndescription: old\n---\nold\n";
        std::fs::write(&cli, old).unwrap();
        let rec_path = dir.join("maestro-cli").join(RECORD_FILE);
        let mut rec: Record =
            serde_json::from_str(&std::fs::read_to_string(&rec_path).unwrap()).unwrap();
        rec.files.insert(SKILL_FILE.into(), hash(old.as_bytes()));
        std::fs::write(&rec_path, serde_json::to_string(&rec).unwrap()).unwrap();
        let r = install(BUNDLED, dir, false).unwrap();
        let cli_action = r.files.iter().find(|f| f.path == cli).unwrap().action;
        assert_eq!(cli_action, InstallAction::Updated);

        // --force replaces the edit.
        let r = install(BUNDLED, dir, true).unwrap();
        assert_eq!(r.kept().count(), 0);
        let bundled = BUNDLED.iter().find(|b| b.name == "maestro-worker").unwrap();
        assert_eq!(std::fs::read_to_string(&edited).unwrap(), bundled.skill_md);
    }

    #[test]
    fn uninstall_takes_back_only_what_is_still_as_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("mine.txt"), "keep").unwrap();
        install(BUNDLED, dir, false).unwrap();
        let edited = dir.join("maestro-worker").join(SKILL_FILE);
        std::fs::write(&edited, "my own worker notes").unwrap();
        let r = uninstall(BUNDLED, dir).unwrap();
        assert_eq!(r.removed.len(), 5);
        assert_eq!(r.kept, vec![edited.clone()]);
        assert!(!dir.join("maestro-cli").exists());
        assert!(edited.exists() && dir.join("mine.txt").exists());
        // Again: nothing recorded, nothing to do.
        assert_eq!(uninstall(BUNDLED, dir).unwrap().removed.len(), 0);
    }

    #[test]
    fn hashes_are_stable() {
        assert_eq!(hash(b""), "cbf29ce484222325");
        assert_eq!(hash(b"a"), "af63dc4c8601ec8c");
    }
}
