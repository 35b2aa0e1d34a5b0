//! Checks that need a stream whose publisher has just stopped.

use std::time::{Duration, Instant};

use super::report::{Outcome, RuleResult, RULES};
use crate::http::{self, Url};
use crate::playlist;

const RULE_ID: &str = "blocking.timeout-503";

fn result(outcome: Outcome, detail: String) -> RuleResult {
    let description = RULES.iter().find(|(id, _)| *id == RULE_ID).map(|(_, text)| *text).unwrap_or_default();
    RuleResult {
        id: RULE_ID,
        description,
        outcome,
        checks: 1,
        failures: usize::from(outcome == Outcome::Fail),
        details: vec![detail],
    }
}

/// Call right after the publisher stopped (within the reconnect grace period):
/// a blocking request for the next part must be answered 503 after being held
/// about 3 x TARGETDURATION.
pub async fn check_hold_timeout(url: &str) -> RuleResult {
    match hold_timeout(url).await {
        Ok((true, detail)) => result(Outcome::Pass, detail),
        Ok((false, detail)) | Err(detail) => result(Outcome::Fail, detail),
    }
}

async fn hold_timeout(url: &str) -> Result<(bool, String), String> {
    let timeout = Duration::from_secs(10);
    let url = Url::parse(url).map_err(|e| e.to_string())?;
    let first = http::get(&url, &[], timeout).await.map_err(|e| e.to_string())?;
    let text = first.text();
    let media_url = match playlist::parse_multivariant(&text).first() {
        Some(variant) => url.join(&variant.uri).map_err(|e| e.to_string())?,
        None => url,
    };
    let response = http::get(&media_url, &[], timeout).await.map_err(|e| e.to_string())?;
    let current = playlist::parse_media(&response.text());
    if current.endlist {
        return Err("playlist already has EXT-X-ENDLIST; call this within the reconnect grace period".into());
    }
    let target = current.target_duration.unwrap_or(2) as f64;
    let (msn, part) = current.next_part_request();
    let blocking = media_url.with_query(&[("_HLS_msn", msn.to_string()), ("_HLS_part", part.to_string())]);
    let sent = Instant::now();
    let held = http::get(&blocking, &[], Duration::from_secs_f64(3.0 * target + 5.0)).await;
    let elapsed = sent.elapsed().as_secs_f64();
    let limit = 3.0 * target;
    match held {
        Ok(answer) => {
            let ok = answer.status == 503 && elapsed >= 0.9 * limit && elapsed <= limit + 2.0;
            Ok((
                ok,
                format!(
                    "{} answered {} after {elapsed:.2} s (3 x TARGETDURATION = {limit} s)",
                    blocking.target, answer.status
                ),
            ))
        }
        Err(error) => Ok((false, format!("{}: {error} after {elapsed:.2} s", blocking.target))),
    }
}
