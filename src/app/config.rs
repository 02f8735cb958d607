//! `monibox config show` and `monibox config export`, and [`load`], which every command that
//! needs the configuration uses to turn its [`ConfigArgs`] and the environment into a [`Config`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::assets::{Bundle, RenderContext, paths};
use crate::cli::{ConfigArgs, ConfigCommand, ConfigExportArgs, ConfigShowArgs};
use crate::config::{Config, ConfigError, FlagValue, Loaded, Sources};

/// The effective configuration for `args`: defaults ← `--config` file ← `MONIBOX_*` ← flags.
pub fn load(args: &ConfigArgs) -> Result<Loaded, ConfigError> {
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
    Config::load(&Sources {
        file: args.config.clone(),
        env: std::env::vars().collect(),
        flags,
    })
}

pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Show(args) => show(&args),
        ConfigCommand::Export(args) => export(&args),
    }
}

fn show(args: &ConfigShowArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&args.config)?;
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
    let loaded = load(&args.config)?;
    let dir = &args.dir;
    if !args.force && has_entries(dir)? {
        anyhow::bail!(
            "{} is not empty: choose an empty or new directory, or pass --force to replace the \
             bundle's files in it (other files are kept)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create {} (check the path and permissions)",
            dir.display()
        )
    })?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let bundle = Bundle::render(&loaded.config, &RenderContext::export(&loaded.config, &dir))?;
    bundle.write_to(&dir)?;
    outln!(
        "wrote {} files to {} (timing {}, project {}); see {}",
        bundle.files().len(),
        dir.display(),
        loaded.config.timing,
        loaded.config.project,
        dir.join(paths::README).display()
    )?;
    Ok(ExitCode::SUCCESS)
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
