//! Go's `path/filepath` functions on Unix paths, and `filepath.EvalSymlinks`, so that
//! `cp` decides and words things exactly as docker does.

use std::io;

/// Go's `filepath.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Base`.
pub fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    match trimmed.rfind('/') {
        Some(i) => trimmed[i + 1..].to_string(),
        None => trimmed.to_string(),
    }
}

/// Go's `filepath.Dir`.
pub fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".into(),
    }
}

/// Go's `filepath.Join`: the non-empty elements joined and cleaned ("" if none).
pub fn join(elems: &[&str]) -> String {
    let parts: Vec<&str> = elems.iter().copied().filter(|e| !e.is_empty()).collect();
    if parts.is_empty() {
        return String::new();
    }
    clean(&parts.join("/"))
}

/// Go's `filepath.Split`: everything up to the last separator, and the rest.
pub fn split(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => ("", p),
    }
}

pub fn has_trailing_sep(p: &str) -> bool {
    p.ends_with('/')
}

/// The last element is `.`.
pub fn specifies_current_dir(p: &str) -> bool {
    base(p) == "."
}

/// Go's text for an OS error: the lower-case `strerror` ("no such file or directory").
pub fn reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
                None => text,
            }
        }
        None => e.to_string(),
    }
}

/// Go's `*PathError` text: "lstat /x: no such file or directory".
pub fn path_error(op: &str, path: &str, e: &io::Error) -> String {
    format!("{op} {path}: {}", reason(e))
}

/// The error of a failed [`eval_symlinks`], worded as Go words it.
#[derive(Debug)]
pub struct EvalError(pub String);

/// Go's `filepath.EvalSymlinks`: the path with every symlink resolved, walked one
/// element at a time so that errors name the element that failed.
pub fn eval_symlinks(path: &str) -> Result<String, EvalError> {
    let mut path = path.to_string();
    let mut vol_len = usize::from(path.starts_with('/'));
    let mut dest = path[..vol_len].to_string();
    let mut links = 0;
    let mut start = vol_len;
    while start < path.len() {
        let bytes = path.as_bytes();
        while start < bytes.len() && bytes[start] == b'/' {
            start += 1;
        }
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'/' {
            end += 1;
        }
        if end == start {
            break;
        }
        let elem = path[start..end].to_string();
        if elem == "." {
            start = end;
            continue;
        }
        if elem == ".." {
            let r = dest[vol_len..].rfind('/').map(|i| i + vol_len);
            match r {
                Some(r) if &dest[r + 1..] != ".." => dest.truncate(r),
                _ => {
                    if dest.len() > vol_len {
                        dest.push('/');
                    }
                    dest.push_str("..");
                }
            }
            start = end;
            continue;
        }
        if !dest.is_empty() && !dest.ends_with('/') {
            dest.push('/');
        }
        dest.push_str(&elem);
        let meta = std::fs::symlink_metadata(&dest)
            .map_err(|e| EvalError(path_error("lstat", &dest, &e)))?;
        if !meta.file_type().is_symlink() {
            if !meta.is_dir() && end < path.len() {
                return Err(EvalError("not a directory".into()));
            }
            start = end;
            continue;
        }
        links += 1;
        if links > 255 {
            return Err(EvalError("EvalSymlinks: too many links".into()));
        }
        let link = std::fs::read_link(&dest)
            .map_err(|e| EvalError(path_error("readlink", &dest, &e)))?
            .to_string_lossy()
            .into_owned();
        let rest = path[end..].to_string();
        path = format!("{link}{rest}");
        if link.starts_with('/') {
            dest = "/".into();
            vol_len = 1;
            start = 1;
        } else {
            match dest[vol_len..].rfind('/') {
                Some(i) => dest.truncate(i + vol_len),
                None => dest.truncate(vol_len),
            }
            start = 0;
        }
    }
    Ok(clean(&dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_go_filepath() {
        assert_eq!(clean("/a/../b/./c/"), "/b/c");
        assert_eq!(clean(""), ".");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(base("/"), "/");
        assert_eq!(base(""), ".");
        assert_eq!(dir("/a/b"), "/a");
        assert_eq!(dir("/a"), "/");
        assert_eq!(dir("a"), ".");
        assert_eq!(dir("/a/b/"), "/a/b");
        assert_eq!(join(&["/a", "../b", ""]), "/b");
        assert_eq!(join(&["", ""]), "");
        assert_eq!(split("/a/b"), ("/a/", "b"));
        assert_eq!(split("/a/b/"), ("/a/b/", ""));
        assert!(specifies_current_dir("/a/.") && !specifies_current_dir("/a"));
    }

    #[test]
    fn eval_symlinks_like_go() {
        let d = std::env::temp_dir().join(format!("berth-eval-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("real", d.join("rel")).unwrap();
        std::os::unix::fs::symlink(d.join("real/sub"), d.join("abs")).unwrap();
        std::fs::write(d.join("file"), b"x").unwrap();
        let p = |s: &str| format!("{}/{s}", d.display());
        assert_eq!(eval_symlinks(&p("rel/sub")).unwrap(), p("real/sub"));
        assert_eq!(eval_symlinks(&p("abs/")).unwrap(), p("real/sub"));
        assert_eq!(eval_symlinks(&p("rel/sub/../sub")).unwrap(), p("real/sub"));
        assert_eq!(
            eval_symlinks(&p("missing/x")).unwrap_err().0,
            format!("lstat {}: no such file or directory", p("missing"))
        );
        assert_eq!(eval_symlinks(&p("file/")).unwrap_err().0, "not a directory");
        assert_eq!(eval_symlinks("/").unwrap(), "/");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
