//! `diff`, `commit` and `export`: a container's filesystem as changes, as a new
//! image, and as a tar.

use std::io::Write;

use berth_oci::Reference;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::cli::{check_args, Arity, CommitOpts, DiffOpts, ExportOpts};
use crate::client::{read_json, Query};
use crate::commands::App;
use crate::error::{CliError, Result};

/// The client's `trimID`.
fn container_id(name: &str) -> Result<&str> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(CliError::other(
            "invalid container name or ID: value is empty",
        ));
    }
    Ok(trimmed)
}

/// `container.ChangeType.String()`.
fn change_kind(kind: i64) -> &'static str {
    match kind {
        0 => "C",
        1 => "A",
        2 => "D",
        _ => "",
    }
}

/// The lines `docker diff` prints for a `GET /containers/{id}/changes` answer.
pub fn diff_lines(changes: &Value) -> String {
    let mut out = String::new();
    for c in changes.as_array().into_iter().flatten() {
        let kind = c.get("Kind").and_then(Value::as_i64).unwrap_or(-1);
        let path = c.get("Path").and_then(Value::as_str).unwrap_or("");
        out.push_str(&format!("{} {path}\n", change_kind(kind)));
    }
    out
}

pub async fn diff(app: &mut App, o: DiffOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(1))?;
    if o.args[0].is_empty() {
        return Err(CliError::other("Container name cannot be empty"));
    }
    let id = container_id(&o.args[0])?;
    let changes = app
        .client
        .get_json(&format!("/containers/{id}/changes"), &Vec::new())
        .await?;
    app.print(&diff_lines(&changes))
}

/// The `POST /commit` query docker's client builds.
pub fn commit_query(o: &CommitOpts, container: &str) -> Result<Query<'static>> {
    let (mut repo, mut tag) = (String::new(), String::new());
    if let Some(reference) = o.args.get(1).filter(|r| !r.is_empty()) {
        let r =
            Reference::parse_normalized(reference).map_err(|e| CliError::other(e.to_string()))?;
        if r.digest().is_some() {
            return Err(CliError::other(
                "refusing to create a tag with a digest reference",
            ));
        }
        let r = r.with_default_tag();
        tag = r.tag().unwrap_or_default().to_string();
        repo = r.name();
    }
    let mut query: Query = vec![
        ("container", container.to_string()),
        ("repo", repo),
        ("tag", tag),
        ("comment", o.message.clone().unwrap_or_default()),
        ("author", o.author.clone().unwrap_or_default()),
    ];
    for c in &o.change {
        query.push(("changes", c.clone()));
    }
    if !o.pause {
        query.push(("pause", "0".into()));
    }
    Ok(query)
}

pub async fn commit(app: &mut App, o: CommitOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Range(1, 2))?;
    let id = container_id(&o.args[0])?.to_string();
    let query = commit_query(&o, &id)?;
    let resp = app.client.post("/commit", &query).await?;
    let v = read_json(resp).await?;
    let id = v.get("Id").and_then(Value::as_str).unwrap_or("");
    app.print(&format!("{id}\n"))
}

/// Go's `os.FileMode` test of moby's `atomicwriter` (`validateDestination`).
fn validate_destination(file: &str) -> std::result::Result<(), String> {
    use crate::archive::gopath::{dir, path_error};
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if file.is_empty() {
        return Err("file name is empty".into());
    }
    let d = dir(file);
    if !d.is_empty() && d != "." && d != ".." {
        let m = std::fs::metadata(&d)
            .map_err(|e| format!("invalid output path: {}", path_error("stat", &d, &e)))?;
        if !m.is_dir() {
            return Err(format!("invalid output path: stat {d}: not a directory"));
        }
    }
    let m = match std::fs::symlink_metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(format!(
                "failed to stat output path: {}",
                path_error("lstat", file, &e)
            ))
        }
    };
    let ft = m.file_type();
    let mode = m.permissions().mode();
    let msg = if ft.is_file() {
        return Ok(());
    } else if ft.is_dir() {
        "cannot write to a directory"
    } else if ft.is_symlink() {
        "cannot write to a symbolic link directly"
    } else if ft.is_fifo() {
        "cannot write to a named pipe (FIFO)"
    } else if ft.is_socket() {
        "cannot write to a socket"
    } else if ft.is_char_device() {
        "cannot write to a character device file"
    } else if ft.is_block_device() {
        "cannot write to a block device file"
    } else if mode & 0o4000 != 0 {
        "cannot write to a setuid file"
    } else if mode & 0o2000 != 0 {
        "cannot write to a setgid file"
    } else if mode & 0o1000 != 0 {
        "cannot write to a sticky bit file"
    } else {
        "unknown file mode"
    };
    Err(msg.into())
}

/// A temporary file next to `target`, renamed over it once complete (moby's
/// `atomicwriter`, mode 0600).
struct AtomicFile {
    tmp: std::path::PathBuf,
    target: std::path::PathBuf,
    file: std::fs::File,
    written: bool,
}

impl AtomicFile {
    fn create(target: &str) -> std::result::Result<AtomicFile, String> {
        validate_destination(target)?;
        let abs = crate::archive::resolve_local_path(target);
        let abs = crate::archive::gopath::clean(&abs);
        let parent = crate::archive::gopath::dir(&abs);
        let name = crate::archive::gopath::base(target);
        let mut n = std::process::id() as u64;
        loop {
            let tmp = std::path::PathBuf::from(format!("{parent}/.tmp-{name}{n}"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        tmp,
                        target: abs.into(),
                        file,
                        written: false,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => {
                    return Err(crate::archive::gopath::path_error(
                        "open",
                        &tmp.display().to_string(),
                        &e,
                    ))
                }
            }
        }
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.written = true;
        self.file.write_all(data)
    }

    /// Syncs, sets the mode and renames into place (only if anything was written).
    fn commit(self) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let result = (|| {
            self.file.sync_all()?;
            std::fs::set_permissions(&self.tmp, std::fs::Permissions::from_mode(0o600))?;
            if self.written {
                std::fs::rename(&self.tmp, &self.target)?;
            }
            Ok(())
        })();
        let _ = std::fs::remove_file(&self.tmp);
        result
    }

    fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

pub async fn export(app: &mut App, o: ExportOpts, path: &str) -> Result<()> {
    check_args(path, &o.args, Arity::Exact(1))?;
    let output = o.output.clone().filter(|s| !s.is_empty());
    let mut file = match &output {
        None => {
            if app.stdout_is_terminal() {
                return Err(CliError::other(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            None
        }
        Some(target) => Some(
            AtomicFile::create(target)
                .map_err(|e| CliError::other(format!("failed to export container: {e}")))?,
        ),
    };
    let id = match container_id(&o.args[0]) {
        Ok(id) => id.to_string(),
        Err(e) => {
            if let Some(f) = file {
                f.discard();
            }
            return Err(e);
        }
    };
    let resp = match app
        .client
        .get(&format!("/containers/{id}/export"), &Vec::new())
        .await
    {
        Ok(r) => r,
        Err(e) => {
            if let Some(f) = file {
                f.discard();
            }
            return Err(e);
        }
    };
    let mut body = resp.into_body();
    let mut out = std::io::stdout().lock();
    let mut failure = None;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                failure = Some(CliError::other(format!("error reading response: {e}")));
                break;
            }
        };
        if let Some(chunk) = frame.data_ref() {
            let written = match &mut file {
                Some(f) => f.write_all(chunk),
                None => out.write_all(chunk),
            };
            if let Err(e) = written {
                failure = Some(e.into());
                break;
            }
        }
    }
    out.flush()?;
    match file {
        Some(f) if failure.is_none() => f.commit()?,
        Some(f) => f.discard(),
        None => {}
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::FromArgMatches;
    use serde_json::json;

    fn commit_opts(args: &[&str]) -> CommitOpts {
        let mut argv = vec!["berth".to_string(), "commit".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let argv = crate::cli::protect_dashdash(&argv);
        let m = crate::cli::command().try_get_matches_from(argv).unwrap();
        match Cli::from_arg_matches(&m).unwrap().command {
            Some(Command::Commit(o)) => o,
            _ => panic!("not commit"),
        }
    }

    #[test]
    fn commit_queries_match_docker() {
        // What docker 28.2.2 sent for the same command lines.
        let o = commit_opts(&[
            "-a",
            "au",
            "-m",
            "msg",
            "-c",
            "ENV A=1",
            "-c",
            "CMD x",
            "c1",
            "repo/x:tag",
        ]);
        let q = commit_query(&o, "c1").unwrap();
        assert_eq!(
            crate::client::encode_query(&q),
            "?author=au&changes=ENV+A%3D1&changes=CMD+x&comment=msg&container=c1&repo=docker.io%2Frepo%2Fx&tag=tag"
        );
        let o = commit_opts(&["-p=false", "c1"]);
        assert_eq!(
            crate::client::encode_query(&commit_query(&o, "c1").unwrap()),
            "?author=&comment=&container=c1&pause=0&repo=&tag="
        );
        let o = commit_opts(&["c1", "myimg"]);
        let q = commit_query(&o, "c1").unwrap();
        assert!(q.contains(&("repo", "docker.io/library/myimg".into())));
        assert!(q.contains(&("tag", "latest".into())));
        // Flags end at the container (pflag's SetInterspersed(false)).
        let o = commit_opts(&["c1", "-m", "x"]);
        assert_eq!(o.args, ["c1", "-m", "x"]);
        assert!(o.message.is_none());
        let o = commit_opts(&[
            "c1",
            "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ]);
        assert_eq!(
            commit_query(&o, "c1").unwrap_err().to_string(),
            "refusing to create a tag with a digest reference"
        );
        let o = commit_opts(&["c1", "bad ref!"]);
        assert_eq!(
            commit_query(&o, "c1").unwrap_err().to_string(),
            "invalid reference format"
        );
    }

    #[test]
    fn diff_lines_like_docker() {
        let changes = json!([
            {"Path": "/tmp", "Kind": 0},
            {"Path": "/tmp/new", "Kind": 1},
            {"Path": "/etc/group", "Kind": 2}
        ]);
        assert_eq!(diff_lines(&changes), "C /tmp\nA /tmp/new\nD /etc/group\n");
        assert_eq!(diff_lines(&Value::Null), "");
    }

    #[test]
    fn export_destinations_like_atomicwriter() {
        assert_eq!(
            validate_destination("/nonexistent-berth/x.tar").unwrap_err(),
            "invalid output path: stat /nonexistent-berth: no such file or directory"
        );
        assert_eq!(
            validate_destination("/").unwrap_err(),
            "cannot write to a directory"
        );
        assert_eq!(
            validate_destination("/dev/null").unwrap_err(),
            "cannot write to a character device file"
        );
        assert!(validate_destination("/tmp/berth-new-file.tar").is_ok());
    }
}
