use std::fmt;

use crate::Digest;

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised image reference: `domain/path[:tag][@digest]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Wording follows Docker's, since scripts grep for it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    Format,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid reference format: {0}")]
    Digest(String),
}

impl Reference {
    /// Parses what a user typed (`busybox`, `repo:tag`, `host:5000/a/b@sha256:…`) into the
    /// normalised form, exactly like Docker's `ParseNormalizedNamed`.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if is_64_hex(s) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        // The lowercase check looks at the path only (and before the tag, which may
        // contain capitals).
        let name_part = remainder.split(['@']).next().unwrap_or("");
        let path_part = match name_part.rfind(':') {
            Some(i) => &name_part[..i],
            None => name_part,
        };
        if path_part.to_lowercase() != path_part {
            return Err(ReferenceError::Uppercase(path_part.to_string()));
        }
        Self::parse_full(&format!("{domain}/{remainder}"))
    }

    /// Parses an already-normalised string (`domain/path[:tag][@digest]`).
    pub fn parse_full(s: &str) -> Result<Reference, ReferenceError> {
        let (name_and_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let digest: Digest = d
                    .parse()
                    .map_err(|_| ReferenceError::Digest("invalid digest".into()))?;
                (n, Some(digest))
            }
            None => (s, None),
        };
        let last_slash = name_and_tag.rfind('/');
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(i) if last_slash.is_none_or(|sl| i > sl) => {
                (&name_and_tag[..i], Some(&name_and_tag[i + 1..]))
            }
            _ => (name_and_tag, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(ReferenceError::Format);
            }
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        let (domain, path) = match name.split_once('/') {
            Some((d, p)) if looks_like_domain(d) => (d, p),
            _ => return Err(ReferenceError::Format),
        };
        if !valid_domain(domain) || !valid_path(path) {
            return Err(ReferenceError::Format);
        }
        Ok(Reference {
            domain: domain.to_string(),
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Parses a repository (no tag or digest allowed) as `POST /images/{name}/tag?repo=` does.
    pub fn parse_repository(s: &str) -> Result<Reference, ReferenceError> {
        let r = Self::parse_normalized(s)?;
        if r.digest.is_some() {
            return Err(ReferenceError::Format);
        }
        Ok(r)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
    pub fn path(&self) -> &str {
        &self.path
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `docker.io/library/busybox`
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox` for `docker.io/library/busybox`, as Docker prints repositories.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// `busybox:latest`, `busybox@sha256:…`
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// Adds `:latest` when there is neither tag nor digest (Docker's `TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Format);
        }
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// Name only, tag and digest dropped.
    pub fn repository(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn is_64_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Docker's `splitDockerDomain`: the first component is a registry host only if it has a
/// `.` or `:`, is `localhost`, or has capitals; otherwise the name lives on Docker Hub.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) if looks_like_domain(&name[..i]) => {
            (name[..i].to_string(), name[i + 1..].to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [ipv6]:port
        match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.is_empty()
                    || !v6
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                {
                    return false;
                }
                match after.strip_prefix(':') {
                    Some(p) => return !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
                    None => return after.is_empty(),
                }
            }
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

fn valid_path(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(valid_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse_normalized(s)
            .unwrap()
            .with_default_tag()
            .to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("library/busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(norm("user/repo"), "docker.io/user/repo:latest");
        assert_eq!(
            norm("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("localhost/foo"), "localhost/foo:latest");
        assert_eq!(
            norm("localhost:5000/foo/bar:v1"),
            "localhost:5000/foo/bar:v1"
        );
        assert_eq!(norm("127.0.0.1:5000/x"), "127.0.0.1:5000/x:latest");
        assert_eq!(norm("[::1]:5000/x:t"), "[::1]:5000/x:t");
        assert_eq!(norm("a.b/c__d-e.f_g"), "a.b/c__d-e.f_g:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
    }

    #[test]
    fn familiar_forms() {
        let r = Reference::parse_normalized("busybox")
            .unwrap()
            .with_default_tag();
        assert_eq!(r.familiar_string(), "busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        let r = Reference::parse_normalized("docker.io/library/a/b:x").unwrap();
        assert_eq!(r.familiar_name(), "library/a/b");
        let r = Reference::parse_normalized("localhost:5000/a").unwrap();
        assert_eq!(r.familiar_name(), "localhost:5000/a");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            Reference::parse_normalized("BusyBox")
                .unwrap_err()
                .to_string(),
            "invalid reference format: repository name (library/BusyBox) must be lowercase"
        );
        assert!(matches!(
            Reference::parse_normalized(&"a".repeat(64)),
            Err(ReferenceError::HexName(_))
        ));
        for bad in [
            "",
            "a/",
            "/a",
            "a//b",
            "a:",
            "a:-x",
            "-a",
            "a-",
            "a..b",
            "a@sha256:1",
            "a:b:c",
            "a b",
            "Host:5000:x/y",
        ] {
            assert!(
                Reference::parse_normalized(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(Reference::parse_normalized(&format!("a/{}", "b".repeat(260))).is_err());
        assert!(Reference::parse_normalized(&format!("a:{}", "b".repeat(129))).is_err());
        // tags may have capitals
        assert!(Reference::parse_normalized("a:V1").is_ok());
    }
}
