//! The client side of `cp`: the path rules of docker's archive package (which
//! directory to extract into, which names to rewrite), a tar writer for local files
//! ([`pack`]) and an extractor that keeps every write inside its destination
//! ([`unpack`]).

pub mod gopath;
pub mod pack;
pub mod unpack;

use gopath::{base, clean, dir, has_trailing_sep, join, specifies_current_dir};

/// What is known about one side of a copy (docker's `archive.CopyInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyInfo {
    pub path: String,
    pub exists: bool,
    pub is_dir: bool,
    /// The name the archived resource should have (a followed link's own name).
    pub rebase_name: String,
}

/// `PreserveTrailingDotOrSeparator`: `cleaned` with the trailing `/.` or `/` of
/// `original` put back.
pub fn preserve_trailing_dot_or_separator(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_string();
    if !specifies_current_dir(&out) && specifies_current_dir(original) {
        if !has_trailing_sep(&out) {
            out.push('/');
        }
        out.push('.');
    }
    if !has_trailing_sep(&out) && has_trailing_sep(original) {
        out.push('/');
    }
    out
}

/// A path that names a directory by its form (`dir/` or `dir/.`).
pub fn asserts_directory(path: &str) -> bool {
    has_trailing_sep(path) || specifies_current_dir(path)
}

/// `SplitPathDirEntry`: the directory and the entry in it, keeping a final `.`.
pub fn split_path_dir_entry(path: &str) -> (String, String) {
    let mut cleaned = clean(path);
    if specifies_current_dir(path) {
        cleaned.push_str("/.");
    }
    (dir(&cleaned), base(&cleaned))
}

/// `GetRebaseName`: the resolved path with the original's trailing `/` or `/.`, and
/// the original's last element when resolving changed it.
pub fn get_rebase_name(path: &str, resolved: &str) -> (String, String) {
    let mut resolved = resolved.to_string();
    if specifies_current_dir(path) && !specifies_current_dir(&resolved) {
        resolved.push_str("/.");
    }
    if has_trailing_sep(path) && !has_trailing_sep(&resolved) {
        resolved.push('/');
    }
    let rebase = if base(path) != base(&resolved) {
        base(path)
    } else {
        String::new()
    };
    (resolved, rebase)
}

/// A renaming of archive entries (docker's `RebaseArchiveEntries`): the first
/// occurrence of `old` in a name becomes `new`, as Go's `strings.Replace(.., 1)` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebase {
    pub old: String,
    pub new: String,
}

impl Rebase {
    pub fn new(old: &str, new: &str) -> Rebase {
        // The root as old base: replace nothing rather than the leading separator.
        let old = if old == "/" { "" } else { old };
        Rebase {
            old: old.to_string(),
            new: new.to_string(),
        }
    }

    pub fn apply(&self, name: &[u8]) -> Vec<u8> {
        replace_once(name, self.old.as_bytes(), self.new.as_bytes())
    }
}

/// Go's `strings.Replace(s, old, new, 1)` on bytes (an empty `old` inserts at the start).
pub fn replace_once(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    if old.is_empty() {
        let mut out = new.to_vec();
        out.extend_from_slice(s);
        return out;
    }
    match s.windows(old.len()).position(|w| w == old) {
        Some(i) => {
            let mut out = s[..i].to_vec();
            out.extend_from_slice(new);
            out.extend_from_slice(&s[i + old.len()..]);
            out
        }
        None => s.to_vec(),
    }
}

/// Why a copy cannot be laid out (docker's `ErrCannotCopyDir`, `ErrDirNotExists`).
#[derive(Debug, PartialEq, Eq)]
pub enum PrepareError {
    CannotCopyDir,
    DirNotExists,
}

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrepareError::CannotCopyDir => "cannot copy directory",
            PrepareError::DirNotExists => "no such directory",
        })
    }
}

/// `PrepareArchiveCopy`: the directory to extract into and the renaming the archive
/// of `src` needs so that extracting it there gives `dst`.
pub fn prepare_archive_copy(
    src: &CopyInfo,
    dst: &CopyInfo,
) -> Result<(String, Option<Rebase>), PrepareError> {
    let (dst_dir, dst_base) = split_path_dir_entry(&dst.path);
    let (_, mut src_base) = split_path_dir_entry(&src.path);
    if !src.rebase_name.is_empty() {
        src_base = src.rebase_name.clone();
    }
    if dst.exists && dst.is_dir {
        // Extract into the existing directory as is.
        return Ok((dst.path.clone(), None));
    }
    if dst.exists && src.is_dir {
        return Err(PrepareError::CannotCopyDir);
    }
    if !dst.exists && !src.is_dir && asserts_directory(&dst.path) {
        return Err(PrepareError::DirNotExists);
    }
    // A file over a file, a directory or file to a new name: extract into the parent,
    // renamed to the destination's name.
    Ok((dst_dir, Some(Rebase::new(&src_base, &dst_base))))
}

/// `filepath.Abs` with the trailing `/` or `/.` kept (docker's `resolveLocalPath`).
pub fn resolve_local_path(path: &str) -> String {
    let abs = if path.starts_with('/') {
        clean(path)
    } else {
        let cwd = std::env::current_dir()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        join(&[&cwd, path])
    };
    preserve_trailing_dot_or_separator(&abs, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(path: &str, exists: bool, is_dir: bool) -> CopyInfo {
        CopyInfo {
            path: path.into(),
            exists,
            is_dir,
            rebase_name: String::new(),
        }
    }

    #[test]
    fn trailing_dots_and_separators() {
        assert_eq!(preserve_trailing_dot_or_separator("/a/b", "a/b/"), "/a/b/");
        assert_eq!(
            preserve_trailing_dot_or_separator("/a/b", "a/b/."),
            "/a/b/."
        );
        assert_eq!(preserve_trailing_dot_or_separator("/", "/"), "/");
        assert_eq!(preserve_trailing_dot_or_separator("/a", "a"), "/a");
        assert!(asserts_directory("/x/") && asserts_directory("/x/.") && !asserts_directory("/x"));
    }

    #[test]
    fn splits_like_docker() {
        assert_eq!(split_path_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_path_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_path_dir_entry("/a"), ("/".into(), "a".into()));
        assert_eq!(split_path_dir_entry("/"), ("/".into(), "/".into()));
    }

    #[test]
    fn rebase_names() {
        assert_eq!(
            get_rebase_name("/src/sym", "/src/d/f"),
            ("/src/d/f".into(), "sym".into())
        );
        assert_eq!(
            get_rebase_name("/src/link/", "/src/dir"),
            ("/src/dir/".into(), "link".into())
        );
        assert_eq!(
            get_rebase_name("/src/link/.", "/src/dir"),
            ("/src/dir/.".into(), String::new())
        );
        assert_eq!(replace_once(b"./a", b".", b"contents"), b"contents/a");
        assert_eq!(replace_once(b"a/b", b"", b"x"), b"xa/b");
        assert_eq!(Rebase::new("/", "x").apply(b"/etc"), b"x/etc");
    }

    #[test]
    fn prepares_copies_like_docker() {
        let file = info("/h/f.txt", true, false);
        let dir = info("/h/d", true, true);
        // Into an existing directory: no renaming.
        assert_eq!(
            prepare_archive_copy(&file, &info("/tmp", true, true)),
            Ok(("/tmp".into(), None))
        );
        // Over an existing file, or to a new name: into the parent, renamed.
        assert_eq!(
            prepare_archive_copy(&file, &info("/tmp/x", true, false)),
            Ok(("/tmp".into(), Some(Rebase::new("f.txt", "x"))))
        );
        assert_eq!(
            prepare_archive_copy(&dir, &info("/tmp/new", false, false)),
            Ok(("/tmp".into(), Some(Rebase::new("d", "new"))))
        );
        assert_eq!(
            prepare_archive_copy(&dir, &info("/tmp/x", true, false)),
            Err(PrepareError::CannotCopyDir)
        );
        assert_eq!(
            prepare_archive_copy(&file, &info("/tmp/nodir/", false, false)),
            Err(PrepareError::DirNotExists)
        );
        let contents = info("/h/d/.", true, true);
        assert_eq!(
            prepare_archive_copy(&contents, &info("/tmp/c", false, false)),
            Ok(("/tmp".into(), Some(Rebase::new(".", "c"))))
        );
        let mut followed = info("/src/d/f", true, false);
        followed.rebase_name = "sym".into();
        assert_eq!(
            prepare_archive_copy(&followed, &info("/out", false, false)),
            Ok(("/".into(), Some(Rebase::new("sym", "out"))))
        );
    }
}
