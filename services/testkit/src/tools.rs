//! External programs as the tests run them (ffmpeg, ffprobe): to completion,
//! successful and silent on stderr, and ffprobe's `[SECTION]` output read
//! back as fields.

use std::process::Output;
use std::time::Duration;

/// Runs `program` to completion; it must succeed and print nothing on
/// stderr. Returns its stdout.
pub fn run_quiet(program: &str, args: &[&str]) -> String {
    quiet(program, args, std::process::Command::new(program).args(args).output())
}

/// As [`run_quiet`], in async code, killed and failed after `timeout`.
pub async fn run_quiet_async(program: &str, args: &[&str], timeout: Duration) -> String {
    let output = tokio::process::Command::new(program).args(args).kill_on_drop(true).output();
    let output = tokio::time::timeout(timeout, output).await.unwrap_or_else(|_| panic!("{program} {args:?} timed out"));
    quiet(program, args, output)
}

fn quiet(program: &str, args: &[&str], output: std::io::Result<Output>) -> String {
    let output = output.unwrap_or_else(|err| panic!("{program} is required for this test: {err}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.trim().is_empty(), "{program} {args:?} reported:\n{stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// `key=value` lines of every `[SECTION]` block ffprobe prints (its default
/// output format), one list per block.
pub fn sections(text: &str, section: &str) -> Vec<Vec<(String, String)>> {
    let (open, close) = (format!("[{section}]"), format!("[/{section}]"));
    let mut found = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    for line in text.lines() {
        if line == open {
            current = Some(Vec::new());
        } else if line == close {
            found.extend(current.take());
        } else if let (Some(fields), Some((key, value))) = (current.as_mut(), line.split_once('=')) {
            fields.push((key.to_string(), value.to_string()));
        }
    }
    found
}

/// The value of `key` in one block of [`sections`]; panics when it is missing.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_blocks_of_one_section() {
        let text =
            "[STREAM]\nindex=0\ncodec_name=h264\n[/STREAM]\n[PACKET]\npts=0\n[/PACKET]\n[STREAM]\nindex=1\n[/STREAM]\n";
        let streams = sections(text, "STREAM");
        assert_eq!(streams.len(), 2);
        assert_eq!(field(&streams[0], "codec_name"), "h264");
        assert_eq!(field(&streams[1], "index"), "1");
        assert_eq!(sections(text, "PACKET"), [vec![("pts".to_string(), "0".to_string())]]);
    }
}
