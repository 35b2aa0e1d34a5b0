//! Log lines on stderr, as text or JSON; RUST_LOG filters them (info).
//!
//! Every line passes through [`redact_tokens`] on its way out: a playback
//! token in a log is a usable credential, and a log line may quote a URL
//! from anywhere (a request span, an error, a webhook or proxy message).
//! Spans and messages already leave tokens out where they know of them;
//! this catches the places that do not.

use std::borrow::Cow;
use std::io::Write;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| RedactingStderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Stderr, with tokens taken out of what is written. The formatter writes
/// each event in one call, so a token is never split between two writes.
struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write_all(&redact_tokens(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// What replaces a token.
const REDACTED: &[u8] = b"[token]";

/// Replaces every JWT (`eyJ...` `.` `eyJ...` `.` signature: a base64url
/// JSON header and payload, which every token we issue is) with `[token]`.
/// A scan by hand: one pattern does not warrant a regex engine per line.
pub fn redact_tokens(line: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = find(line, b"eyJ", at) {
        let starts_word = found == 0 || line.get(found - 1).is_none_or(|byte| !is_base64url(*byte));
        match token_end(line, found).filter(|_| starts_word) {
            Some(end) => {
                let out = out.get_or_insert_with(|| Vec::with_capacity(line.len()));
                out.extend_from_slice(line.get(copied..found).unwrap_or_default());
                out.extend_from_slice(REDACTED);
                copied = end;
                at = end;
            }
            None => at = found + 3,
        }
    }
    match out {
        Some(mut out) => {
            out.extend_from_slice(line.get(copied..).unwrap_or_default());
            Cow::Owned(out)
        }
        None => Cow::Borrowed(line),
    }
}

/// The end of the token starting at `start`: two dot-separated base64url
/// parts (the second also a JSON object) and a signature, possibly empty.
fn token_end(line: &[u8], start: usize) -> Option<usize> {
    let header_end = run_end(line, start);
    if line.get(header_end) != Some(&b'.') || !line.get(header_end + 1..)?.starts_with(b"eyJ") {
        return None;
    }
    let payload_end = run_end(line, header_end + 1);
    if line.get(payload_end) != Some(&b'.') {
        return None;
    }
    Some(run_end(line, payload_end + 1))
}

fn run_end(line: &[u8], start: usize) -> usize {
    let run = line.get(start..).unwrap_or_default().iter().take_while(|byte| is_base64url(**byte)).count();
    start + run
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|window| window == needle).map(|position| position + from)
}

#[cfg(test)]
mod tests {
    use super::redact_tokens;

    fn redacted(line: &str) -> String {
        String::from_utf8(redact_tokens(line.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn tokens_are_replaced_wherever_they_stand() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsaXZlLyJ9.c2lnbmF0dXJl-_x";
        assert_eq!(redacted(&format!("GET /t/{token}/live/a/index.m3u8")), "GET /t/[token]/live/a/index.m3u8");
        assert_eq!(redacted(&format!("uri=/live/a/x.m3u8?token={token}&b=1")), "uri=/live/a/x.m3u8?token=[token]&b=1");
        assert_eq!(
            redacted(&format!(r#"{{"url":"{token}","again":"{token}"}}"#)),
            r#"{"url":"[token]","again":"[token]"}"#
        );
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJsaXZlLyJ9.";
        assert_eq!(redacted(&format!("x {unsigned} y")), "x [token] y");
    }

    #[test]
    fn other_text_is_left_alone() {
        for line in ["plain line", "eyJ alone", "keyJar.eyJx.y", "eyJabc.notjson.sig", "eyJabc.eyJdef", "ends with eyJ"]
        {
            assert_eq!(redacted(line), line);
        }
        assert!(matches!(redact_tokens(b"no token here"), std::borrow::Cow::Borrowed(_)));
    }
}
