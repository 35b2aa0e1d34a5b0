//! RTSP Digest authentication with MD5 (RFC 2617, RFC 7616 section 3.4),
//! as publishers such as ffmpeg answer a `401`: the `WWW-Authenticate`
//! challenge, parsing the client's `Authorization: Digest ...` header, and
//! checking its response in constant time. Both `qop=auth` and the older
//! form without `qop` (RFC 2069) are accepted. Nonces are made and expired
//! by the caller, which holds a clock and a random source.

use std::fmt;

use md5::{Digest, Md5};

use crate::MediaError;

const WHAT: &str = "Digest Authorization";
/// More parameters than any client sends; bounds the work per header.
const MAX_PARAMETERS: usize = 16;

/// The `WWW-Authenticate` value of a challenge. `stale` tells the client its
/// previous nonce expired, so it retries without asking the user again.
pub fn challenge(realm: &str, nonce: &str, stale: bool) -> String {
    let stale = if stale { ", stale=TRUE" } else { "" };
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"{stale}")
}

/// A nonce from 16 random bytes, as lowercase hex.
pub fn nonce_from(random: [u8; 16]) -> String {
    hex(&random)
}

/// The parameters of an `Authorization: Digest ...` header. `Debug` hides
/// the response so a log line can never carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    /// `auth`, or `None` for the RFC 2069 form.
    pub qop: Option<String>,
    pub cnonce: Option<String>,
    pub nc: Option<String>,
}

impl fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("uri", &self.uri)
            .field("qop", &self.qop)
            .finish_non_exhaustive()
    }
}

impl DigestCredentials {
    /// Parses the value of an `Authorization` header. Only the Digest
    /// scheme with MD5 is accepted; unknown parameters are ignored.
    pub fn parse(header: &str) -> Result<Self, MediaError> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(MediaError::unsupported(WHAT, "scheme is not Digest"));
        }
        let parameters = parse_parameters(rest)?;
        let get = |name: &str| {
            parameters.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.clone())
        };
        let required = |name: &'static str| get(name).ok_or_else(|| MediaError::invalid(WHAT, format!("no {name}")));
        if let Some(algorithm) = get("algorithm").filter(|algorithm| !algorithm.eq_ignore_ascii_case("MD5")) {
            return Err(MediaError::unsupported(WHAT, format!("algorithm {algorithm}")));
        }
        let credentials = Self {
            username: required("username")?,
            realm: required("realm")?,
            nonce: required("nonce")?,
            uri: required("uri")?,
            response: required("response")?,
            qop: get("qop"),
            cnonce: get("cnonce"),
            nc: get("nc"),
        };
        if let Some(qop) = &credentials.qop {
            if !qop.eq_ignore_ascii_case("auth") {
                return Err(MediaError::unsupported(WHAT, "qop other than auth"));
            }
            let nc_ok = credentials.nc.as_deref().is_some_and(|nc| nc.len() == 8 && is_hex(nc));
            if !nc_ok || credentials.cnonce.as_deref().is_none_or(str::is_empty) {
                return Err(MediaError::invalid(WHAT, "qop=auth without a valid nc and cnonce"));
            }
        }
        Ok(credentials)
    }

    /// The response a client knowing `password` computes for `method`.
    pub fn expected_response(&self, method: &str, password: &str) -> String {
        self.expected_response_from_ha1(method, &ha1(&self.username, &self.realm, password))
    }

    /// The same from HA1 ([`ha1`]), which a server can store instead of the password.
    pub fn expected_response_from_ha1(&self, method: &str, ha1: &str) -> String {
        let ha2 = md5_hex(&[method, &self.uri]);
        match (&self.qop, &self.nc, &self.cnonce) {
            (Some(_), Some(nc), Some(cnonce)) => md5_hex(&[ha1, &self.nonce, nc, cnonce, "auth", &ha2]),
            _ => md5_hex(&[ha1, &self.nonce, &ha2]),
        }
    }

    /// True when the client's response proves it knows `password`. The
    /// comparison takes the same time wherever the first difference is.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        self.verify_ha1(method, &ha1(&self.username, &self.realm, password))
    }

    /// [`Self::verify`] against a stored HA1 of this username and realm.
    pub fn verify_ha1(&self, method: &str, ha1: &str) -> bool {
        let expected = self.expected_response_from_ha1(method, &ha1.to_ascii_lowercase());
        constant_time_eq(expected.as_bytes(), self.response.to_ascii_lowercase().as_bytes())
    }
}

/// HA1 = MD5(username ":" realm ":" password) as lowercase hex: what a
/// server keeps to check Digest logins without the password.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&[username, realm, password])
}

/// `name=value` or `name="quoted value"` pairs separated by commas.
fn parse_parameters(input: &str) -> Result<Vec<(String, String)>, MediaError> {
    let mut parameters: Vec<(String, String)> = Vec::new();
    let mut rest = input.trim_start();
    while !rest.is_empty() {
        if parameters.len() >= MAX_PARAMETERS {
            return Err(MediaError::TooLarge {
                what: "Digest parameters",
                size: MAX_PARAMETERS + 1,
                limit: MAX_PARAMETERS,
            });
        }
        let (name, after) = rest.split_once('=').ok_or_else(|| MediaError::invalid(WHAT, "parameter without ="))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_') {
            return Err(MediaError::invalid(WHAT, "bad parameter name"));
        }
        if parameters.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(name)) {
            return Err(MediaError::invalid(WHAT, "repeated parameter"));
        }
        let after = after.trim_start();
        let (value, remainder) = match after.strip_prefix('"') {
            Some(quoted) => quoted_string(quoted)?,
            None => {
                let end = after.find(',').unwrap_or(after.len());
                let (token, remainder) = after.split_at(end);
                (token.trim_end().to_owned(), remainder)
            }
        };
        if value.chars().any(char::is_control) {
            return Err(MediaError::invalid(WHAT, "control character in a value"));
        }
        parameters.push((name.to_owned(), value));
        let remainder = remainder.trim_start();
        rest = match remainder.strip_prefix(',') {
            Some(next) => next.trim_start(),
            None if remainder.is_empty() => remainder,
            None => return Err(MediaError::invalid(WHAT, "text after a value")),
        };
    }
    Ok(parameters)
}

/// The value of a quoted string whose opening quote is already consumed,
/// and what follows its closing quote.
fn quoted_string(input: &str) -> Result<(String, &str), MediaError> {
    let mut value = String::new();
    let mut characters = input.char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '"' => return Ok((value, input.get(index + 1..).unwrap_or_default())),
            '\\' => match characters.next() {
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            other => value.push(other),
        }
    }
    Err(MediaError::invalid(WHAT, "unterminated quoted string"))
}

fn md5_hex(parts: &[&str]) -> String {
    let mut hasher = Md5::new();
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            hasher.update(b":");
        }
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Equality whose time depends only on the lengths (which are not secret:
/// an MD5 response is always 32 hex digits).
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let difference = left.iter().zip(right).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 section 3.5.
    const RFC2617: &str = r#"Digest username="Mufasa", realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001,
        cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn rfc_2617_and_7616_vectors() {
        let credentials = DigestCredentials::parse(&RFC2617.replace('\n', " ")).expect("parses");
        assert_eq!(credentials.username, "Mufasa");
        assert_eq!(credentials.uri, "/dir/index.html");
        assert!(credentials.verify("GET", "Circle Of Life"));
        assert!(!credentials.verify("GET", "Circle of Life"));
        assert!(!credentials.verify("ANNOUNCE", "Circle Of Life"));

        // RFC 7616 section 3.9.1, MD5.
        let rfc7616 = r#"Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html",
            algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001,
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth,
            response="8ca523f5e9506fed4657c9700eebdbec", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let credentials = DigestCredentials::parse(&rfc7616.replace('\n', " ")).expect("parses");
        assert!(credentials.verify("GET", "Circle of Life"));
        // A server that keeps only HA1 reaches the same answer.
        let stored = ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(stored, "3d78807defe7de2157e2b0b6573a855f");
        assert!(credentials.verify_ha1("GET", &stored));
        assert!(credentials.verify_ha1("GET", &stored.to_ascii_uppercase()), "hex case does not matter");
        assert!(!credentials.verify_ha1("GET", &ha1("Mufasa", "http-auth@example.org", "Circle Of Life")));
    }

    #[test]
    fn ffmpeg_forms_with_and_without_qop() {
        // ffmpeg quotes qop and algorithm; RFC 2069 clients send no qop at all.
        let header = r#"Digest username="cam1", realm="relay", nonce="abc", uri="rtsp://127.0.0.1:8554/live/cam1", response="RESPONSE", algorithm="MD5", qop="auth", cnonce="1234abcd", nc=00000001"#;
        let mut credentials = DigestCredentials::parse(header).expect("parses");
        credentials.response = credentials.expected_response("ANNOUNCE", "secret-key").to_ascii_uppercase();
        assert!(credentials.verify("ANNOUNCE", "secret-key"), "hex case does not matter");
        assert!(!credentials.verify("ANNOUNCE", "secret-kez"));

        let header = r#"Digest username="cam1", realm="relay", nonce="abc", uri="/live/cam1", response="x""#;
        let mut credentials = DigestCredentials::parse(header).expect("parses");
        assert_eq!(credentials.qop, None);
        let ha1 = md5_hex(&["cam1", "relay", "secret-key"]);
        credentials.response = md5_hex(&[&ha1, "abc", &md5_hex(&["ANNOUNCE", "/live/cam1"])]);
        assert!(credentials.verify("ANNOUNCE", "secret-key"));
        assert!(!credentials.verify("ANNOUNCE", ""));
    }

    #[test]
    fn challenge_and_nonce() {
        let nonce = nonce_from([0xab; 16]);
        assert_eq!(nonce.len(), 32);
        assert_eq!(
            challenge("relay", &nonce, false),
            format!("Digest realm=\"relay\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"")
        );
        assert!(challenge("relay", "n", true).ends_with(", stale=TRUE"));
        let credentials = DigestCredentials::parse(RFC2617).expect("parses");
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("6629fae4") && shown.contains("Mufasa"), "{shown}");
    }

    #[test]
    fn hostile_headers_are_errors() {
        let valid = r#"username="u", realm="r", nonce="n", uri="/", response="x""#;
        for header in [
            "",
            "Digest",
            "Basic dXNlcjpwYXNz",
            r#"Digest username="u", realm="r", nonce="n", uri="/""#,
            r#"Digest username="u, realm="r", nonce="n", uri="/", response="x"#,
            r#"Digest username="u" realm="r""#,
            r#"Digest username="u", username="v", realm="r", nonce="n", uri="/", response="x""#,
            r#"Digest username="u\"#,
            "Digest =x",
            "Digest user name=x",
            "Digest username=\"a\u{7}\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\"",
            r#"Digest username="u", realm="r", nonce="n", uri="/", response="x", algorithm=SHA-256"#,
            r#"Digest username="u", realm="r", nonce="n", uri="/", response="x", qop=auth-int, nc=00000001, cnonce="c""#,
            r#"Digest username="u", realm="r", nonce="n", uri="/", response="x", qop=auth, nc=1, cnonce="c""#,
            r#"Digest username="u", realm="r", nonce="n", uri="/", response="x", qop=auth, nc=00000001"#,
        ] {
            assert!(DigestCredentials::parse(header).is_err(), "{header}");
        }
        let many: String = (0..40).map(|index| format!(", p{index}=v")).collect();
        assert!(DigestCredentials::parse(&format!("Digest {valid}{many}")).is_err());
        let credentials = DigestCredentials::parse(&format!("Digest {valid}, userhash=false,stale=x")).expect("ok");
        assert_eq!(credentials.username, "u");
        let escaped =
            DigestCredentials::parse(r#"Digest username="a\"b\\c", realm="r", nonce="n", uri="/", response="x""#);
        assert_eq!(escaped.expect("escapes").username, r#"a"b\c"#);
        // Non-ASCII and a response of the wrong length never panic nor verify.
        let odd =
            DigestCredentials::parse("Digest username=\"é☃\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"ß\"");
        assert!(!odd.expect("parses").verify("ANNOUNCE", "key"));
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"ab", b"abc")
        );
    }
}
