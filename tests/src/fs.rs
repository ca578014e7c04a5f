//! A small file system of its own for a test: a tmpfs mounted on a temporary folder, which
//! the test can fill up or remount read-only. Mounting needs root (`CAP_SYS_ADMIN`); a test
//! that needs one fails with a message saying so rather than skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs of a given size, unmounted (and its folder removed) on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it: `8m`) on a new temporary
    /// folder. Fails the calling test, saying what it needs, when it cannot mount.
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().display().to_string();
        let opts = format!("size={size},mode=0777");
        if let Err(why) = mount(&["-t", "tmpfs", "-o", &opts, "tmpfs", &path]) {
            panic!(
                "this test mounts a small tmpfs ({size}) and could not: {why}. \
                 Run the tests as root (or with CAP_SYS_ADMIN), as ./scripts/test does in CI"
            );
        }
        Tmpfs { dir, mounted: true }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Remounts it read-only (`true`) or read-write (`false`), keeping its contents.
    pub fn set_read_only(&self, read_only: bool) {
        let opts = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let path = self.dir.path().display().to_string();
        mount(&["-o", opts, &path]).unwrap_or_else(|why| panic!("cannot remount {path}: {why}"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            let path = self.dir.path().display().to_string();
            // Lazily: a process the test left behind must not keep the mount (or fail the
            // test a second time while it unwinds).
            let _ = Command::new("umount").args(["-l", &path]).status();
            self.mounted = false;
        }
    }
}

fn mount(args: &[&str]) -> Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
