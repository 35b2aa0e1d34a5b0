//! Rule catalog, the recorder that collects observations, and the final report.

use std::fmt;

/// Every rule the checker knows, in report order: (id, what it asserts).
pub const RULES: &[(&str, &str)] = &[
    ("multivariant.attributes", "variant has CODECS, RESOLUTION, FRAME-RATE, BANDWIDTH"),
    ("multivariant.bandwidth", "BANDWIDTH >= the measured bit rate of every segment (10% slack)"),
    ("part-inf.present", "EXT-X-PART-INF:PART-TARGET present"),
    ("part.duration", "part DURATION <= PART-TARGET, >= 85% unless INDEPENDENT/GAP/last of segment"),
    ("part.first-independent", "first part of every segment is INDEPENDENT=YES"),
    ("part.independent-keyframe", "a part starting with a sync sample is INDEPENDENT=YES and vice versa"),
    ("part.starts-with-moof", "every part body begins with a moof box"),
    ("part.downloadable", "every listed part answers 200"),
    ("server-control.can-block-reload", "CAN-BLOCK-RELOAD=YES"),
    ("server-control.part-hold-back", "PART-HOLD-BACK >= 3 x PART-TARGET"),
    ("server-control.hold-back", "HOLD-BACK >= 3 x TARGETDURATION"),
    ("server-control.can-skip-until", "CAN-SKIP-UNTIL >= 6 x TARGETDURATION"),
    ("server-control.stable", "SERVER-CONTROL identical across reloads"),
    ("target-duration.constant", "TARGETDURATION never changes"),
    ("target-duration.extinf", "every EXTINF rounds to <= TARGETDURATION"),
    ("media-sequence.monotonic", "media sequence never goes down, a sequence number keeps its URI"),
    ("window.min-length", "window >= 3 x TARGETDURATION once segments were removed"),
    ("part.arrival-interval", "new part within PART-TARGET (p99 interval <= PART-TARGET + 100 ms)"),
    ("segment.arrival-interval", "new segment within 1.5 x TARGETDURATION"),
    ("part.retention", "parts older than 3 x TARGETDURATION leave the playlist"),
    ("part.downloadable-after-removal", "a part that left the playlist still answers 200"),
    ("pdt.present", "EXT-X-PROGRAM-DATE-TIME in every media playlist"),
    ("tags.order", "DISCONTINUITY/MAP/PDT precede the first EXT-X-PART of their segment"),
    ("preload-hint.unique", "at most one PRELOAD-HINT per TYPE, none after ENDLIST"),
    ("rendition-report.present", "EXT-X-RENDITION-REPORT for every other rendition"),
    ("blocking.next-part", "_HLS_msn/_HLS_part of the next part is held, then contains it"),
    ("blocking.part-overflow", "part index past the end of segment N returns part 0 of N+1"),
    ("blocking.part-without-msn", "_HLS_part without _HLS_msn answers 400"),
    ("blocking.msn-too-far", "_HLS_msn beyond last+2 answers 400"),
    ("blocking.timeout-503", "request held over 3 x TARGETDURATION answers 503"),
    ("delta.skip", "_HLS_skip=YES returns EXT-X-SKIP with EXT-X-VERSION >= 9"),
    ("preload-hint.held", "hinted part requested at once is held, then 200 with the complete part"),
    ("http.not-found", "unknown URI answers 404 without a long cache lifetime"),
    ("segment.equals-parts", "segment body equals its parts concatenated"),
    ("http.cache-media", "parts, segments and init have max-age >= 1 day"),
    ("http.cache-playlist", "media playlist max-age <= PART-TARGET"),
    ("http.cors", "Access-Control-Allow-Origin on playlists and media"),
    ("http.gzip", "playlists are gzip-encoded when asked"),
];

const MAX_DETAILS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone)]
pub struct RuleResult {
    pub id: &'static str,
    pub description: &'static str,
    pub outcome: Outcome,
    pub checks: usize,
    pub failures: usize,
    /// First failure details, then notes (measurements, skip reason).
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub playlist_url: String,
    pub rules: Vec<RuleResult>,
    /// Named measurements, e.g. part arrival percentiles.
    pub metrics: Vec<(String, String)>,
}

impl Report {
    pub fn failed(&self) -> Vec<&RuleResult> {
        self.rules.iter().filter(|rule| rule.outcome == Outcome::Fail).collect()
    }

    pub fn all_passed(&self) -> bool {
        self.failed().is_empty()
    }

    pub fn rule(&self, id: &str) -> Option<&RuleResult> {
        self.rules.iter().find(|rule| rule.id == id)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "LL-HLS conformance report for {}", self.playlist_url)?;
        for rule in &self.rules {
            let label = match rule.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "SKIP",
            };
            writeln!(
                f,
                "{label} {:<34} {} ({} checks, {} failed)",
                rule.id, rule.description, rule.checks, rule.failures
            )?;
            for detail in &rule.details {
                writeln!(f, "       - {detail}")?;
            }
        }
        for (name, value) in &self.metrics {
            writeln!(f, "metric {name}: {value}")?;
        }
        let failed = self.failed().len();
        write!(f, "{} rules, {failed} failed", self.rules.len())
    }
}

#[derive(Debug, Default)]
struct Entry {
    checks: usize,
    failures: usize,
    failure_details: Vec<String>,
    notes: Vec<String>,
    skip_reason: Option<String>,
}

/// Collects pass/fail observations per rule id.
#[derive(Debug)]
pub struct Recorder {
    entries: Vec<(&'static str, &'static str, Entry)>,
    metrics: Vec<(String, String)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            entries: RULES.iter().map(|(id, description)| (*id, *description, Entry::default())).collect(),
            metrics: Vec::new(),
        }
    }
}

impl Recorder {
    fn entry(&mut self, id: &str) -> &mut Entry {
        let position = self
            .entries
            .iter()
            .position(|(known, _, _)| *known == id)
            .unwrap_or_else(|| panic!("unknown conformance rule id {id}"));
        &mut self.entries[position].2
    }

    pub fn check(&mut self, id: &str, ok: bool, detail: impl FnOnce() -> String) {
        let entry = self.entry(id);
        entry.checks += 1;
        if !ok {
            entry.failures += 1;
            if entry.failure_details.len() < MAX_DETAILS {
                entry.failure_details.push(detail());
            }
        }
    }

    pub fn pass(&mut self, id: &str) {
        self.check(id, true, String::new);
    }

    pub fn fail(&mut self, id: &str, detail: impl Into<String>) {
        let detail = detail.into();
        self.check(id, false, || detail);
    }

    pub fn note(&mut self, id: &str, note: impl Into<String>) {
        let entry = self.entry(id);
        if entry.notes.len() < MAX_DETAILS {
            entry.notes.push(note.into());
        }
    }

    pub fn skip(&mut self, id: &str, reason: impl Into<String>) {
        self.entry(id).skip_reason = Some(reason.into());
    }

    pub fn metric(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.metrics.push((name.into(), value.into()));
    }

    pub fn finish(self, playlist_url: String) -> Report {
        let rules = self
            .entries
            .into_iter()
            .map(|(id, description, entry)| {
                let mut details = entry.failure_details;
                details.extend(entry.notes);
                let outcome = if entry.failures > 0 {
                    Outcome::Fail
                } else if entry.checks > 0 {
                    Outcome::Pass
                } else if let Some(reason) = entry.skip_reason {
                    details.push(format!("skipped: {reason}"));
                    Outcome::Skip
                } else {
                    details.push("never observed during the run".to_string());
                    Outcome::Fail
                };
                RuleResult { id, description, outcome, checks: entry.checks, failures: entry.failures, details }
            })
            .collect();
        Report { playlist_url, rules, metrics: self.metrics }
    }
}
