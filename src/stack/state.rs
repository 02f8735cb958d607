//! The state directory: where a project's rendered bundle, `stack.json`, the daemon's pid file,
//! log and control socket, and the Grafana admin password live.
//!
//! ```text
//! <root>/                      --state-dir, MONIBOX_STATE_DIR, $XDG_STATE_HOME/monibox or
//!                              ~/.local/state/monibox
//!   <project>/                 0700
//!     bundle/                  0755 (files 0644): bind-mounted read-only into the containers,
//!                              which run as other users
//!     stack.json               what `up` resolved (see `record`), written atomically
//!     daemon.pid  daemon.log   the detached daemon
//!     control.sock             0600; a short path under /tmp if this one is too long
//!     grafana-admin-password   0600, generated once, kept until `down --volumes`
//!     secrets/                 0700, holding 0644 copies of secrets, each bind-mounted as a
//!                              single file into the container that reads it (its user cannot
//!                              read ours): the Grafana password
//!   .locks/<project>.lock      the project's lock (see `lock`): outside the project directory,
//!                              which `down --volumes` removes while holding it
//!   targets/<project>.toml     the `[[targets]]` `monibox targets add` keeps when no config file
//!                              is given; configuration, so `down --volumes` keeps it
//! ```
//!
//! The caller resolves the root from the flag and the environment ([`StateRoot::resolve`]); nothing
//! here reads the environment.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Longest path a unix socket address can hold (`sun_path`, including the terminating NUL).
const SOCKET_PATH_MAX: usize = 107;
/// Characters of the generated Grafana admin password (alphanumeric: about 143 bits).
const PASSWORD_LENGTH: usize = 24;
/// The Grafana admin password's file name, in the project directory and in `secrets/`.
const GRAFANA_PASSWORD: &str = crate::catalog::grafana::PASSWORD_SECRET.name;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "no state directory: pass --state-dir or set MONIBOX_STATE_DIR (neither XDG_STATE_HOME \
         nor HOME is set)"
    )]
    NoRoot,
    #[error("state directory {}: {error} (check the path and its permissions)", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

fn non_empty(path: Option<&Path>) -> Option<&Path> {
    path.filter(|path| !path.as_os_str().is_empty())
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |error| StateError::Io {
        path: path.to_owned(),
        error,
    }
}

/// The directory that holds one subdirectory per project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRoot(PathBuf);

impl StateRoot {
    /// The root from, in order: the explicit directory (`--state-dir` or `MONIBOX_STATE_DIR`),
    /// `$XDG_STATE_HOME/monibox`, `$HOME/.local/state/monibox`. A relative path is made absolute,
    /// since containers bind-mount from it and the daemon runs elsewhere.
    pub fn resolve(
        explicit: Option<&Path>,
        xdg_state_home: Option<&Path>,
        home: Option<&Path>,
    ) -> Result<Self, StateError> {
        let root = if let Some(dir) = non_empty(explicit) {
            dir.to_owned()
        } else if let Some(state) = non_empty(xdg_state_home) {
            state.join("monibox")
        } else if let Some(home) = non_empty(home) {
            home.join(".local/state/monibox")
        } else {
            return Err(StateError::NoRoot);
        };
        let root = std::path::absolute(&root).map_err(io_error(&root))?;
        Ok(Self(root))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory of one project (not created).
    pub fn project(&self, project: &str) -> ProjectDir {
        ProjectDir {
            dir: self.0.join(project),
            lock: self.0.join(".locks").join(format!("{project}.lock")),
            targets: self.0.join("targets").join(format!("{project}.toml")),
        }
    }
}

/// One project's state directory and the paths in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDir {
    dir: PathBuf,
    lock: PathBuf,
    targets: PathBuf,
}

impl ProjectDir {
    /// `dir` laid out like a project's state directory (`bundle/`, `secrets/`), for an export
    /// that runs the same containers elsewhere; its lock and targets file are inside it.
    pub fn at(dir: PathBuf) -> Self {
        Self {
            lock: dir.join(".lock"),
            targets: dir.join("targets.toml"),
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    pub fn bundle_dir(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    pub fn stack_file(&self) -> PathBuf {
        self.dir.join("stack.json")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }

    /// The targets `monibox targets add` keeps when no config file is given. Outside the project
    /// directory: they are configuration, and survive `down --volumes`.
    pub fn targets_file(&self) -> PathBuf {
        self.targets.clone()
    }

    pub fn password_file(&self) -> PathBuf {
        self.dir.join(GRAFANA_PASSWORD)
    }

    /// The copy of a secret a container reads through a single-file bind mount.
    pub fn secret_file(&self, name: &str) -> PathBuf {
        self.dir.join("secrets").join(name)
    }

    /// The project's lock file (see `stack::lock`).
    pub fn lock_file(&self) -> &Path {
        &self.lock
    }

    /// The control socket: `control.sock` in the project directory, or, when that path is too
    /// long for a unix socket, `/tmp/monibox-<uid>/<hash of the directory>.sock`. The choice
    /// depends only on the directory, so every monibox process finds the same socket.
    pub fn control_socket(&self) -> PathBuf {
        let preferred = self.dir.join("control.sock");
        if preferred.as_os_str().len() <= SOCKET_PATH_MAX {
            return preferred;
        }
        short_socket_dir().join(format!("{}.sock", short_hash(&self.dir)))
    }

    /// Creates the directories with their modes (the project directory 0700, the bundle 0755,
    /// `secrets/` 0700); modes are set also when the directories already exist.
    pub fn create(&self) -> Result<(), StateError> {
        create_dir(&self.dir, 0o700)?;
        create_dir(&self.bundle_dir(), 0o755)?;
        let secrets = self.dir.join("secrets");
        create_dir(&secrets, 0o700)?;
        if let Some(parent) = self.control_socket().parent() {
            if !parent.starts_with(&self.dir) {
                create_dir(parent, 0o700)?;
            }
        }
        Ok(())
    }

    /// The Grafana admin password: read from its file, or generated with a CSPRNG and stored
    /// (0600) on first use. The copy Grafana mounts is refreshed from it every time.
    pub fn grafana_password(&self) -> Result<String, StateError> {
        let path = self.password_file();
        let password = match fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
            Ok(_) => self.new_password(&path)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                self.new_password(&path)?
            }
            Err(error) => return Err(io_error(&path)(error)),
        };
        let mounted = self.secret_file(GRAFANA_PASSWORD);
        let current = fs::read_to_string(&mounted).ok();
        if current.as_deref() != Some(password.as_str()) {
            write_atomic(&mounted, password.as_bytes(), 0o644)?;
        }
        Ok(password)
    }

    fn new_password(&self, path: &Path) -> Result<String, StateError> {
        let password = generate_password();
        write_atomic(path, password.as_bytes(), 0o600)?;
        Ok(password)
    }

    /// Makes every directory of the bundle 0755 and every file 0644, whatever the umask was,
    /// so the containers' users can read their configuration.
    pub fn open_bundle_permissions(&self) -> Result<(), StateError> {
        open_tree(&self.bundle_dir())
    }

    /// Removes what describes a running stack (stack.json, pid file, control socket); the
    /// bundle, the log and the password stay.
    pub fn remove_runtime_files(&self) -> Result<(), StateError> {
        for path in [self.stack_file(), self.pid_file(), self.control_socket()] {
            remove_file_if_present(&path)?;
        }
        Ok(())
    }

    /// Removes the whole project directory (and a control socket kept outside it).
    pub fn remove_all(&self) -> Result<(), StateError> {
        remove_file_if_present(&self.control_socket())?;
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error(&self.dir)(error)),
        }
    }
}

/// A new admin password: 24 alphanumeric characters from a CSPRNG.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LENGTH)
}

/// Writes `contents` to a temporary file beside `path` with `mode`, then renames it over `path`:
/// readers see the old or the new file, never a half-written one.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), StateError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temporary)?;
        // The mode given to open() is reduced by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    };
    write().map_err(|error| {
        let _ = fs::remove_file(&temporary);
        StateError::Io {
            path: path.to_owned(),
            error,
        }
    })
}

pub fn remove_file_if_present(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(path)(error)),
    }
}

/// Creates `path` (and its parents) and sets its mode exactly, also when it exists.
pub fn create_dir(path: &Path, mode: u32) -> Result<(), StateError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(io_error(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error(path))
}

fn open_tree(dir: &Path) -> Result<(), StateError> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io_error(dir))?;
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_error(&path))?;
        if kind.is_dir() {
            open_tree(&path)?;
        } else if kind.is_file() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
                .map_err(io_error(&path))?;
        }
    }
    Ok(())
}

/// `/tmp/monibox-<uid>`: a per-user directory for sockets whose preferred path is too long.
fn short_socket_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/monibox-{}", nix::unistd::getuid()))
}

fn short_hash(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    #[test]
    fn the_root_comes_from_the_flag_then_xdg_then_home() {
        let root = |explicit: Option<&str>, xdg: Option<&str>, home: Option<&str>| {
            StateRoot::resolve(
                explicit.map(Path::new),
                xdg.map(Path::new),
                home.map(Path::new),
            )
            .map(|root| root.path().to_owned())
        };
        assert_eq!(
            root(Some("/s"), Some("/x"), Some("/h")).ok(),
            Some(PathBuf::from("/s"))
        );
        assert_eq!(
            root(None, Some("/x"), Some("/h")).ok(),
            Some(PathBuf::from("/x/monibox"))
        );
        assert_eq!(
            root(Some(""), Some(""), Some("/h")).ok(),
            Some(PathBuf::from("/h/.local/state/monibox"))
        );
        assert!(matches!(root(None, None, None), Err(StateError::NoRoot)));
        let relative = root(Some("rel/dir"), None, None).expect("resolves");
        assert!(relative.is_absolute() && relative.ends_with("rel/dir"));
    }

    #[test]
    fn directories_get_their_modes_and_the_password_is_generated_once() {
        let temp = tempfile::tempdir().expect("temp dir");
        let project = StateRoot::resolve(Some(temp.path()), None, None)
            .expect("root")
            .project("demo");
        project.create().expect("create");
        assert_eq!(mode(project.path()), 0o700);
        assert_eq!(mode(&project.bundle_dir()), 0o755);
        assert_eq!(mode(&project.path().join("secrets")), 0o700);

        let password = project.grafana_password().expect("password");
        assert_eq!(password.len(), PASSWORD_LENGTH);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(mode(&project.password_file()), 0o600);
        assert_eq!(mode(&project.secret_file(GRAFANA_PASSWORD)), 0o644);
        assert_eq!(project.grafana_password().expect("again"), password);
        let other = StateRoot::resolve(Some(temp.path()), None, None)
            .expect("root")
            .project("other");
        other.create().expect("create");
        assert_ne!(other.grafana_password().expect("other"), password);

        project.remove_all().expect("remove");
        assert!(!project.exists());
        project.remove_all().expect("removing twice is fine");
    }

    #[test]
    fn bundle_files_are_made_readable_whatever_the_umask() {
        let temp = tempfile::tempdir().expect("temp dir");
        let project = StateRoot::resolve(Some(temp.path()), None, None)
            .expect("root")
            .project("p");
        project.create().expect("create");
        let nested = project.bundle_dir().join("grafana");
        fs::create_dir(&nested).expect("dir");
        fs::set_permissions(&nested, fs::Permissions::from_mode(0o700)).expect("chmod");
        let file = nested.join("grafana.ini");
        write_atomic(&file, b"x", 0o600).expect("write");
        project.open_bundle_permissions().expect("open");
        assert_eq!(mode(&nested), 0o755);
        assert_eq!(mode(&file), 0o644);
    }

    #[test]
    fn long_paths_get_a_short_control_socket() {
        let project = |dir: String| ProjectDir {
            dir: PathBuf::from(dir),
            lock: PathBuf::from("/unused.lock"),
            targets: PathBuf::from("/unused.toml"),
        };
        let short = project("/home/u/.local/state/monibox/default".to_owned());
        assert_eq!(
            short.control_socket(),
            PathBuf::from("/home/u/.local/state/monibox/default/control.sock")
        );
        let long = project(format!("/{}/default", "d".repeat(120)));
        let socket = long.control_socket();
        assert!(socket.as_os_str().len() <= SOCKET_PATH_MAX, "{socket:?}");
        assert!(socket.starts_with("/tmp"), "{socket:?}");
        assert_eq!(socket, long.control_socket(), "the same path every time");
        let other = project(format!("/{}/other", "d".repeat(120)));
        assert_ne!(socket, other.control_socket());
    }
}
