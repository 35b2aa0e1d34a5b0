//! Credentials never leave this crate: they are taken out of camera URLs
//! before anything is logged, shown in status or handed to the RTSP client.

use url::Url;

use crate::PullError;

/// A camera URL with its credentials taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitUrl {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<String>,
}

pub(crate) fn split_credentials(raw: &str) -> Result<SplitUrl, PullError> {
    let invalid = |reason: &str| PullError::InvalidConfig(format!("{reason}: {}", strip_userinfo(raw)));
    let mut url = Url::parse(raw).map_err(|_| invalid("unparseable camera URL"))?;
    if url.scheme() != "rtsp" {
        return Err(invalid("camera URL must start with rtsp://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("camera URL has no host"));
    }
    let username = (!url.username().is_empty()).then(|| percent_decode(url.username()));
    let password = url.password().map(percent_decode);
    // Both setters only fail for URLs that cannot have credentials, checked above.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok(SplitUrl { url, username, password })
}

/// The URL without `user:password@`; unparseable input is cut down to what
/// cannot hold a secret.
pub fn redact_url(raw: &str) -> String {
    match split_credentials(raw) {
        Ok(split) => split.url.to_string(),
        Err(_) => strip_userinfo(raw),
    }
}

/// Everything between `://` and the last `@` of the authority goes, without
/// parsing the URL.
fn strip_userinfo(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return "<invalid url>".to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// Removes every occurrence of the secrets (and their percent-encoded form)
/// from text that came from elsewhere, such as an RTSP library error.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|secret| secret.len() >= 2) {
        text = text.replace(secret, "***");
    }
    text
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (byte, hex.and_then(|pair| u8::from_str_radix(pair, 16).ok())) {
            (b'%', Some(value)) => {
                decoded.push(value);
                index += 3;
            }
            _ => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_split_off_and_decoded() {
        let split = split_credentials("rtsp://admin:p%40ss@cam.local:554/h264?ch=1").unwrap();
        assert_eq!(split.url.as_str(), "rtsp://cam.local:554/h264?ch=1");
        assert_eq!(split.username.as_deref(), Some("admin"));
        assert_eq!(split.password.as_deref(), Some("p@ss"));
        let plain = split_credentials("rtsp://cam.local/live").unwrap();
        assert_eq!((plain.username, plain.password), (None, None));
    }

    #[test]
    fn redaction_never_shows_a_password() {
        assert_eq!(redact_url("rtsp://admin:secret@10.1.1.1/a"), "rtsp://10.1.1.1/a");
        // Unparseable (bad port), still cut down.
        let odd = redact_url("rtsp://admin:secret@10.1.1.1:99999/a");
        assert!(!odd.contains("secret") && !odd.contains("admin"), "{odd}");
        assert_eq!(redact_url("no scheme admin:secret@"), "<invalid url>");
        assert_eq!(scrub("401 for user admin pw hunter2", &["hunter2"]), "401 for user admin pw ***");
    }
}
