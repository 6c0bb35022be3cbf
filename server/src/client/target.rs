//! Which server and stream a LINK argument names.
//!
//! A LINK is what the web app's Share gives (`http://host/#stream/secret!pin`,
//! the server being everything before `#`), or a bare fragment
//! (`stream`, `#stream!p`, `stream/secret`) on the server given by
//! `--server`. The link decides what the stream must be
//! ([`Link::expectation`]); `docs/crypto.md` section 9a is the rule.

use malten_shared::link::Link;

use super::ClientError;

/// A server and a link on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Scheme, host and path, no trailing `/`.
    pub base: String,
    pub link: Link,
}

impl Target {
    /// Reads `link`; `server` is used only when `link` is not a full URL.
    pub fn resolve(link: &str, server: &str) -> Result<Target, ClientError> {
        if link.contains("://") {
            let (base, link) = Link::parse_url(link)?;
            return Ok(Target { base, link });
        }
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "--server must be an http:// or https:// URL, not {server:?}"
            )));
        }
        Ok(Target {
            base: server.trim_end_matches('/').to_owned(),
            link: Link::parse_fragment(link)?,
        })
    }

    /// The link as the web app's Share writes it: `<base>/#<fragment>`.
    pub fn url(base: &str, link: &Link) -> String {
        format!("{}/{}", base.trim_end_matches('/'), link.fragment())
    }
}

#[cfg(test)]
mod tests {
    use malten_shared::link::Pin;

    use super::*;

    #[test]
    fn a_full_link_names_its_server_and_a_bare_name_uses_the_flag() {
        let t = Target::resolve("http://h:1/app/#room/p%20w!p", "http://ignored").unwrap();
        assert_eq!(t.base, "http://h:1/app");
        assert_eq!(t.link.stream.as_str(), "room");
        assert_eq!(t.link.secret.as_deref(), Some("p w"));
        assert_eq!(t.link.pin, Some(Pin::Plain));
        let t = Target::resolve("room", "https://m.example/").unwrap();
        assert_eq!(t.base, "https://m.example");
        assert_eq!(t.link, Link::parse_fragment("room").unwrap());
        assert_eq!(Target::url(&t.base, &t.link), "https://m.example/#room");
    }

    #[test]
    fn bad_links_and_servers_are_refused_with_exit_2() {
        for (link, server) in [
            ("ftp://h/#room", "http://x"),
            ("http://h/#bad name", "http://x"),
            ("room!x", "http://x"),
            ("room", "localhost:9090"),
        ] {
            let err = Target::resolve(link, server).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{link} {server}: {err}");
        }
    }
}
