//! Publish-delay probe: pushes a live stream with ffmpeg and measures how long
//! after the encoder emitted the end of a part (or segment) the origin serves
//! it completely.
//!
//! ffmpeg's `-progress` output maps encoder media time to wall time. The probe
//! follows the media playlist (blocking reloads when the origin offers them,
//! polling otherwise), fetches every new part and segment at once, and
//! subtracts the wall time at which the encoder passed its media end.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

use crate::http::{self, Url};
use crate::playlist;
use crate::stats::Summary;

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub publish_url: String,
    pub playlist_url: String,
    pub seconds: f64,
    /// Pre-encoded FLV pushed with `-c copy`; without it a test pattern is encoded live.
    pub input: Option<PathBuf>,
    pub size: String,
    pub fps: u32,
    pub gop_seconds: f64,
    pub bitrate: String,
    pub poll: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            publish_url: String::new(),
            playlist_url: String::new(),
            seconds: 30.0,
            input: None,
            size: "1280x720".into(),
            fps: 30,
            gop_seconds: 1.0,
            bitrate: "2600k".into(),
            poll: Duration::from_millis(20),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub blocking_reload: bool,
    pub part_delay: Option<Summary>,
    pub segment_delay: Option<Summary>,
    pub playlist_requests: usize,
    pub errors: usize,
}

impl ProbeResult {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "blocking_reload": self.blocking_reload,
            "part_delay_s": self.part_delay.map(Summary::to_json),
            "segment_delay_s": self.segment_delay.map(Summary::to_json),
            "playlist_requests": self.playlist_requests,
            "errors": self.errors,
        })
    }
}

/// Encoder clock: the smallest (wall - media) offset seen, which is the least
/// affected by output buffering.
#[derive(Debug, Default)]
struct EncoderClock {
    offset: Option<f64>,
}

impl EncoderClock {
    fn observe(&mut self, wall: f64, media: f64) {
        if media > 0.5 {
            let offset = wall - media;
            self.offset = Some(self.offset.map_or(offset, |current| current.min(offset)));
        }
    }

    fn wall_at(&self, media: f64) -> Option<f64> {
        self.offset.map(|offset| media + offset)
    }
}

fn publisher_command(config: &ProbeConfig) -> Command {
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]);
    match &config.input {
        Some(input) => {
            command.arg("-i").arg(input);
            command.args(["-t", &config.seconds.to_string(), "-c", "copy"]);
        }
        None => {
            let gop = ((config.fps as f64) * config.gop_seconds).round().max(1.0).to_string();
            let video = format!("testsrc2=size={}:rate={}", config.size, config.fps);
            command.args(["-f", "lavfi", "-i", &video]);
            command.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
            command.args(["-t", &config.seconds.to_string()]);
            command.args(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]);
            command.args(["-pix_fmt", "yuv420p", "-b:v", &config.bitrate]);
            command.args(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0"]);
            command.args(["-c:a", "aac", "-b:a", "128k"]);
        }
    }
    command.args(["-progress", "pipe:1", "-stats_period", "0.05", "-f", "flv"]);
    command.arg(&config.publish_url);
    command.stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
    command
}

fn spawn_publisher(config: &ProbeConfig, clock: Arc<Mutex<EncoderClock>>, start: Instant) -> Result<Child, String> {
    let mut child = publisher_command(config).spawn().map_err(|error| format!("cannot start ffmpeg: {error}"))?;
    let stdout = child.stdout.take().ok_or("ffmpeg stdout missing")?;
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Some(value) = line.strip_prefix("out_time_us=") else {
                continue;
            };
            if let Ok(micros) = value.trim().parse::<i64>() {
                let wall = start.elapsed().as_secs_f64();
                let mut clock = clock.lock().unwrap_or_else(|p| p.into_inner());
                clock.observe(wall, micros as f64 / 1e6);
            }
        }
    });
    Ok(child)
}

/// One fetched item: when its body was complete (s since start) and its media end.
type Fetched = Arc<Mutex<Vec<(f64, f64)>>>;

fn spawn_fetch(tasks: &mut JoinSet<bool>, url: Url, media_end: f64, start: Instant, into: Fetched) {
    tasks.spawn(async move {
        match http::get(&url, &[], Duration::from_secs(10)).await {
            Ok(response) if response.status == 200 => {
                let done = response.done_at.duration_since(start).as_secs_f64();
                into.lock().unwrap_or_else(|p| p.into_inner()).push((done, media_end));
                true
            }
            _ => false,
        }
    });
}

pub async fn run_probe(config: &ProbeConfig) -> Result<ProbeResult, String> {
    let playlist_url = Url::parse(&config.playlist_url).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let clock = Arc::new(Mutex::new(EncoderClock::default()));
    let mut publisher = spawn_publisher(config, clock.clone(), start)?;
    let part_fetches: Fetched = Arc::default();
    let segment_fetches: Fetched = Arc::default();
    let mut tasks = JoinSet::new();
    let mut first_msn: Option<u64> = None;
    // Media time at which each segment ends, counted from the first segment.
    let mut segment_end: BTreeMap<u64, f64> = BTreeMap::new();
    let mut parts_seen: HashSet<(u64, u32)> = HashSet::new();
    let mut blocking = false;
    let mut next_request: Option<(u64, u32)> = None;
    let (mut requests, mut errors) = (0usize, 0usize);
    let deadline = start + Duration::from_secs_f64(config.seconds + 8.0);
    let mut publisher_done_at: Option<Instant> = None;

    while Instant::now() < deadline {
        if publisher_done_at.is_none() && publisher.try_wait().ok().flatten().is_some() {
            publisher_done_at = Some(Instant::now());
        }
        // Give the origin a little time after the publisher stops, then end.
        if publisher_done_at.is_some_and(|at| at.elapsed() > Duration::from_secs(4)) {
            break;
        }
        let url = match (blocking, next_request) {
            (true, Some((msn, part))) => {
                playlist_url.with_query(&[("_HLS_msn", msn.to_string()), ("_HLS_part", part.to_string())])
            }
            _ => playlist_url.clone(),
        };
        requests += 1;
        let response = match http::get(&url, &[], Duration::from_secs(10)).await {
            Ok(response) if response.status == 200 => response,
            _ => {
                if publisher_done_at.is_none() && publisher.try_wait().ok().flatten().is_some() {
                    publisher_done_at = Some(Instant::now());
                }
                // Before the stream starts and after it ends, failures are expected.
                errors += usize::from(first_msn.is_some() && publisher_done_at.is_none());
                next_request = None;
                tokio::time::sleep(config.poll).await;
                continue;
            }
        };
        let playlist = playlist::parse_media(&response.text());
        blocking =
            playlist.part_target.is_some() && playlist.server_control.as_ref().is_some_and(|c| c.can_block_reload);
        if first_msn.is_none() {
            first_msn = playlist
                .segments
                .first()
                .map(|segment| segment.msn)
                .or_else(|| playlist.last_part().map(|_| playlist.next_msn));
        }
        let Some(first) = first_msn else {
            tokio::time::sleep(config.poll).await;
            continue;
        };
        let start_of = |ends: &BTreeMap<u64, f64>, msn: u64| -> Option<f64> {
            if msn == first {
                Some(0.0)
            } else {
                ends.get(&(msn.checked_sub(1)?)).copied()
            }
        };
        for segment in playlist.segments.iter().filter(|s| s.msn >= first) {
            if segment_end.contains_key(&segment.msn) {
                continue;
            }
            let Some(begin) = start_of(&segment_end, segment.msn) else {
                continue;
            };
            let end = begin + segment.duration;
            segment_end.insert(segment.msn, end);
            if let Ok(url) = playlist_url.join(&segment.uri) {
                spawn_fetch(&mut tasks, url, end, start, segment_fetches.clone());
            }
        }
        let mut part_end: BTreeMap<u64, f64> = BTreeMap::new();
        for part in playlist.all_parts().filter(|p| p.msn >= first) {
            let Some(begin) = start_of(&segment_end, part.msn) else {
                continue;
            };
            let end = part_end.get(&part.msn).copied().unwrap_or(begin) + part.duration;
            part_end.insert(part.msn, end);
            if parts_seen.insert((part.msn, part.index)) {
                if let Ok(url) = playlist_url.join(&part.uri) {
                    spawn_fetch(&mut tasks, url, end, start, part_fetches.clone());
                }
            }
        }
        while let Some(done) = tasks.try_join_next() {
            errors += usize::from(!matches!(done, Ok(true)));
        }
        if blocking {
            next_request = Some(playlist.next_part_request());
        } else {
            tokio::time::sleep(config.poll).await;
        }
    }
    let _ = publisher.start_kill();
    let _ = publisher.wait().await;
    while let Some(done) = tasks.join_next().await {
        errors += usize::from(!matches!(done, Ok(true)));
    }
    let clock = clock.lock().unwrap_or_else(|p| p.into_inner());
    // The first segment carries startup effects; leave it out.
    let skip_until = first_msn.and_then(|first| segment_end.get(&first).copied()).unwrap_or(0.0);
    let delays = |fetched: &Fetched| -> Vec<f64> {
        let fetched = fetched.lock().unwrap_or_else(|p| p.into_inner());
        fetched
            .iter()
            .filter(|(_, media_end)| *media_end > skip_until + 0.001)
            .filter_map(|(done, media_end)| clock.wall_at(*media_end).map(|wall| done - wall))
            .collect()
    };
    Ok(ProbeResult {
        blocking_reload: blocking,
        part_delay: Summary::of(&delays(&part_fetches)),
        segment_delay: Summary::of(&delays(&segment_fetches)),
        playlist_requests: requests,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_keeps_smallest_offset() {
        let mut clock = EncoderClock::default();
        clock.observe(1.0, 0.2);
        assert_eq!(clock.wall_at(1.0), None);
        clock.observe(2.5, 1.0);
        clock.observe(3.2, 2.0);
        assert_eq!(clock.wall_at(10.0), Some(11.2));
    }
}
