//! Building an image from an in-memory build context through the Engine's build API (the legacy
//! builder: no BuildKit, no registry needed for `FROM scratch`).
//!
//! A [`BuildContext`] is a Dockerfile plus a list of files (taken from the host, following
//! symlinks, or given as bytes) and directories with their modes. Its fingerprint covers every
//! input, so an image built from the same inputs can be recognised and reused.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::Docker;
use super::error::DockerError;
use super::images::ImageProgress;

/// Where a file's content comes from.
#[derive(Debug, Clone)]
pub(super) enum Content {
    /// A host file, read when the context is packed (symlinks are followed).
    Host(PathBuf),
    Bytes(Vec<u8>),
}

/// One entry of the build context, at a relative path such as `rootfs/bin/prometheus`.
#[derive(Debug, Clone)]
pub(super) enum Entry {
    File {
        path: String,
        content: Content,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
}

/// A Dockerfile and the files it copies.
#[derive(Debug, Clone, Default)]
pub(super) struct BuildContext {
    pub dockerfile: String,
    pub entries: Vec<Entry>,
}

impl BuildContext {
    pub fn file(&mut self, path: impl Into<String>, content: Content, mode: u32) {
        self.entries.push(Entry::File {
            path: path.into(),
            content,
            mode,
        });
    }

    pub fn dir(&mut self, path: impl Into<String>, mode: u32) {
        self.entries.push(Entry::Dir {
            path: path.into(),
            mode,
        });
    }

    /// A hex digest of the Dockerfile, every entry's path and mode, and each host file's path,
    /// size and modification time (cheap: host files are not read).
    pub fn fingerprint(&self, recipe_version: &str) -> Result<String, DockerError> {
        let mut hasher = Sha256::new();
        hasher.update(recipe_version.as_bytes());
        hasher.update(self.dockerfile.as_bytes());
        for entry in &self.entries {
            match entry {
                Entry::Dir { path, mode } => hasher.update(format!("dir {path} {mode:o}\n")),
                Entry::File {
                    path,
                    content: Content::Bytes(bytes),
                    mode,
                } => {
                    hasher.update(format!("bytes {path} {mode:o} {}\n", bytes.len()));
                    hasher.update(bytes);
                }
                Entry::File {
                    path,
                    content: Content::Host(source),
                    mode,
                } => {
                    let metadata =
                        std::fs::metadata(source).map_err(|error| DockerError::HostFileRead {
                            path: source.clone(),
                            error,
                        })?;
                    let modified = metadata
                        .modified()
                        .ok()
                        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
                        .unwrap_or_default();
                    hasher.update(format!(
                        "host {path} {mode:o} {} {} {}\n",
                        source.display(),
                        metadata.len(),
                        modified.as_nanos()
                    ));
                }
            }
        }
        Ok(hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect())
    }

    /// Packs the context as a tar archive in memory. Blocking (reads host files).
    pub fn pack(&self) -> Result<Vec<u8>, DockerError> {
        let mut archive = tar::Builder::new(Vec::new());
        let append = |archive: &mut tar::Builder<Vec<u8>>,
                      header: &mut tar::Header,
                      path: &str,
                      data: &mut dyn Read| {
            archive
                .append_data(header, path, data)
                .map_err(|error| DockerError::HostFileRead {
                    path: PathBuf::from(path),
                    error,
                })
        };
        let mut dockerfile = header(tar::EntryType::Regular, 0o644, self.dockerfile.len() as u64);
        append(
            &mut archive,
            &mut dockerfile,
            "Dockerfile",
            &mut self.dockerfile.as_bytes(),
        )?;
        for entry in &self.entries {
            match entry {
                Entry::Dir { path, mode } => {
                    let mut header = header(tar::EntryType::Directory, *mode, 0);
                    append(&mut archive, &mut header, path, &mut std::io::empty())?;
                }
                Entry::File {
                    path,
                    content: Content::Bytes(bytes),
                    mode,
                } => {
                    let mut header = header(tar::EntryType::Regular, *mode, bytes.len() as u64);
                    append(&mut archive, &mut header, path, &mut bytes.as_slice())?;
                }
                Entry::File {
                    path,
                    content: Content::Host(source),
                    mode,
                } => {
                    let read_error = |error| DockerError::HostFileRead {
                        path: source.clone(),
                        error,
                    };
                    let mut file = std::fs::File::open(source).map_err(read_error)?;
                    let size = file.metadata().map_err(read_error)?.len();
                    let mut header = header(tar::EntryType::Regular, *mode, size);
                    append(&mut archive, &mut header, path, &mut file)?;
                }
            }
        }
        archive
            .into_inner()
            .map_err(|error| DockerError::HostFileRead {
                path: PathBuf::from("build context"),
                error,
            })
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    // A fixed time keeps the context identical between builds from the same inputs.
    header.set_mtime(0);
    header
}

impl Docker {
    /// Sends a packed context to the Engine's build API and tags the result. Returns the image
    /// id. `progress` sees the build steps.
    pub(super) async fn build_from_context(
        &self,
        tag: &str,
        context: Vec<u8>,
        labels: HashMap<String, String>,
        timeout: Duration,
        progress: &mut (dyn FnMut(ImageProgress) + Send),
    ) -> Result<String, DockerError> {
        progress(ImageProgress::Sending {
            image: tag.to_owned(),
            bytes: context.len() as u64,
        });
        let options = BuildImageOptions {
            t: Some(tag.to_owned()),
            rm: true,
            forcerm: true,
            labels: Some(labels),
            ..Default::default()
        };
        // The body must be Some: bollard panics on a build without one.
        let body = bollard::body_full(context.into());
        let build = async {
            let mut stream = self.engine.build_image(options, None, Some(body));
            let mut image_id = None;
            let mut output = String::new();
            while let Some(item) = stream.next().await {
                let info = item.map_err(|error| match error {
                    bollard::errors::Error::DockerStreamError { error } => {
                        DockerError::BuildFailed {
                            tag: tag.to_owned(),
                            detail: error,
                        }
                    }
                    other => self.fail("build image", tag, other),
                })?;
                if let Some(detail) = info.error_detail.and_then(|detail| detail.message) {
                    return Err(DockerError::BuildFailed {
                        tag: tag.to_owned(),
                        detail,
                    });
                }
                if let Some(text) = info.stream {
                    // Chunks do not always end at a line break.
                    output.push_str(&text);
                    while let Some(end) = output.find('\n') {
                        let line: String = output.drain(..=end).collect();
                        let line = line.trim();
                        if line.starts_with("Step ") {
                            progress(ImageProgress::Building {
                                image: tag.to_owned(),
                                step: line.to_owned(),
                            });
                        }
                    }
                }
                if let Some(id) = info.aux.and_then(|aux| aux.id) {
                    image_id = Some(id);
                }
            }
            image_id.ok_or_else(|| DockerError::BuildFailed {
                tag: tag.to_owned(),
                detail: "the Engine reported no image id".to_owned(),
            })
        };
        tokio::time::timeout(timeout, build)
            .await
            .unwrap_or_else(|_| {
                Err(DockerError::BuildTimeout {
                    tag: tag.to_owned(),
                    timeout,
                })
            })
    }
}
