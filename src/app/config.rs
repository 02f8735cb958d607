//! `monibox config show` and `monibox config export`, and [`load`], which every command that
//! needs the configuration uses to turn its [`ConfigArgs`] and the environment into a [`Config`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::assets::{Bundle, paths};
use crate::catalog;
use crate::cli::{ConfigArgs, ConfigCommand, ConfigExportArgs, ConfigShowArgs};
use crate::config::{Config, ConfigError, ENV_KEYS, FlagValue, Loaded, Sources, unknown_env_vars};
use crate::output::{Format, Render, emit};
use crate::stack::state::ProjectDir;

/// `MONIBOX_*` variables the command line reads (as flag defaults), besides the configuration's
/// own [`crate::config::ENV_KEYS`].
const COMMAND_LINE_ENV_VARS: [&str; 2] = ["MONIBOX_STATE_DIR", "MONIBOX_CONFIG"];

/// The effective configuration for `args`: defaults ← `--config` file ← `MONIBOX_*` ← flags.
/// Unknown `MONIBOX_*` variables get a warning (once per process), since they are most likely
/// typos that would otherwise be ignored without a word.
pub fn load(args: &ConfigArgs) -> Result<Loaded, ConfigError> {
    load_with(args, None)
}

/// [`load`], with the project's targets file (`<state dir>/<project>/targets.toml`, which
/// `monibox targets add` writes when no config file is given) among the sources. The project is
/// known only once the configuration is loaded, so it is loaded twice when that file exists.
pub fn load_project(
    args: &ConfigArgs,
    state: &crate::cli::StateArgs,
) -> anyhow::Result<(Loaded, ProjectDir, crate::stack::state::StateRoot)> {
    let loaded = load(args)?;
    let root = super::state_root(state)?;
    let dir = root.project(loaded.config.project.as_str());
    let targets_file = dir.targets_file();
    if !targets_file.exists() {
        return Ok((loaded, dir, root));
    }
    Ok((load_with(args, Some(targets_file))?, dir, root))
}

fn load_with(args: &ConfigArgs, targets_file: Option<PathBuf>) -> Result<Loaded, ConfigError> {
    let mut flags = Vec::new();
    if let Some(project) = &args.project {
        flags.push(FlagValue {
            flag: "--project",
            key: "project",
            value: project.clone(),
        });
    }
    if let Some(timing) = &args.timing {
        flags.push(FlagValue {
            flag: "--timing",
            key: "timing",
            value: timing.clone(),
        });
    }
    // Variables that are not Unicode cannot be configuration text; skipping them beats the
    // panic of `std::env::vars`.
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    warn_about_unknown_env_vars(&env);
    Config::load(&Sources {
        file: args.config.clone(),
        targets_file,
        env,
        flags,
    })
}

fn warn_about_unknown_env_vars(env: &[(String, String)]) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let unknown = unknown_env_vars(env, &COMMAND_LINE_ENV_VARS);
    if unknown.is_empty() {
        return;
    }
    WARNED.call_once(|| {
        let known: Vec<&str> = ENV_KEYS
            .iter()
            .map(|&(name, _, _)| name)
            .chain(COMMAND_LINE_ENV_VARS)
            .collect();
        tracing::warn!(
            "ignoring {}: not a monibox variable (monibox reads {})",
            unknown.join(", "),
            known.join(", ")
        );
    });
}

pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Show(args) => show(&args),
        ConfigCommand::Export(args) => export(&args),
    }
}

fn show(args: &ConfigShowArgs) -> anyhow::Result<ExitCode> {
    let (loaded, _, _) = load_project(&args.config, &args.state)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&loaded.config)?)?;
    } else {
        outln!("# effective monibox configuration")?;
        outln!("# from: {}", loaded.layers.join(" <- "))?;
        out!("{}", loaded.config.to_toml())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn export(args: &ConfigExportArgs) -> anyhow::Result<ExitCode> {
    let (loaded, _, _) = load_project(&args.config, &args.state)?;
    // The exported bundle names the credential files as configured: they must be readable.
    crate::stack::secrets::check(&loaded.config)?;
    let dir = &args.dir;
    if !args.force && has_entries(dir)? {
        anyhow::bail!(
            "{} is not empty: choose an empty or new directory, or pass --force to replace the \
             bundle's files in it (other files are kept)",
            dir.display()
        );
    }
    // Rendered before anything is created, so a directory the bundle cannot name is refused
    // without leaving an empty one behind.
    let dir =
        std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let context = catalog::render::for_export(&loaded.config, &dir);
    let bundle = Bundle::render(&loaded.config, &context)
        .with_context(|| format!("cannot export to {}", dir.display()))?;
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create {} (check the path and permissions)",
            dir.display()
        )
    })?;
    bundle.write_to(&dir)?;
    bundle.remove_stale(&dir)?;
    let report = ExportReport {
        dir: dir.display().to_string(),
        project: loaded.config.project.to_string(),
        timing: loaded.config.timing,
        files: bundle
            .files()
            .iter()
            .map(|file| file.path.clone())
            .collect(),
        readme: dir.join(paths::README).display().to_string(),
    };
    emit(&report, Format::from_json_flag(args.output.json))?;
    Ok(ExitCode::SUCCESS)
}

/// What `config export` wrote.
#[derive(Debug, serde::Serialize)]
struct ExportReport {
    dir: String,
    project: String,
    timing: crate::config::Timing,
    /// Relative to `dir`, sorted.
    files: Vec<String>,
    readme: String,
}

impl Render for ExportReport {
    fn render_text(&self) -> String {
        format!(
            "wrote {} files to {} (timing {}, project {}); see {}\n",
            self.files.len(),
            self.dir,
            self.timing,
            self.project,
            self.readme
        )
    }
}

/// Whether `dir` exists and holds anything. A path that exists but is not a directory is an
/// error: the bundle cannot be written there at all.
fn has_entries(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot export to {}: it is not a readable directory",
                dir.display()
            )
        }),
    }
}
