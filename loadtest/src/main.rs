//! `loadtest` command line: conformance check, publish-delay probe, idle
//! connections, blocked viewers and a free-port helper for scripts.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use loadtest::http::Url;
use loadtest::probe::{run_probe, ProbeConfig};
use loadtest::viewers::{run_viewers, Transport, ViewersConfig};
use loadtest::{check_stream, idle};

const USAGE: &str = "usage:
  loadtest check PLAYLIST_URL [--seconds 12] [--json]
      observe a live LL-HLS stream and check the origin rules; exit 1 on failure
  loadtest probe --publish-url RTMP_URL --playlist URL [--seconds 30] [--input FILE.flv]
                 [--size 1280x720] [--fps 30] [--gop 1] [--bitrate 2600k] [--poll-ms 20]
      push a stream with ffmpeg and print part/segment publish delays as JSON
  loadtest idle --url URL --connections N [--seconds 30]
      open N idle keep-alive connections, print 'ready N', hold them, print 'closed K'
  loadtest viewers --playlist URL --viewers N [--rounds 3] [--server-pid PID] [--transport http1|http1-tls|h2] [--ca-file PEM]
      park N keep-alive viewers in blocking reloads; print server memory and release spread as JSON
  loadtest free-port [COUNT]
      print free TCP ports on 127.0.0.1";

/// `--name value` options after the subcommand.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: &[String]) -> Args {
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut iter = raw.iter().peekable();
        while let Some(arg) = iter.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = match iter.peek() {
                    Some(next) if !next.starts_with("--") => iter.next().cloned(),
                    _ => None,
                };
                options.push((name.to_string(), value));
            } else {
                positional.push(arg.clone());
            }
        }
        Args { positional, options }
    }

    fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(key, _)| key == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(key, _)| key == name).and_then(|(_, value)| value.as_deref())
    }

    fn number(&self, name: &str, default: f64) -> Result<f64, String> {
        match self.value(name) {
            Some(text) => text.parse().map_err(|_| format!("--{name}: not a number: {text}")),
            None => Ok(default),
        }
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name).ok_or_else(|| format!("--{name} is required"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let args = Args::parse(rest);
    let result = match command.as_str() {
        "check" => check(&args).await,
        "probe" => probe(&args).await,
        "idle" => idle_connections(&args).await,
        "viewers" => blocked_viewers(&args).await,
        "free-port" => free_ports(&args),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("loadtest {command}: {message}");
            ExitCode::from(2)
        }
    }
}

async fn check(args: &Args) -> Result<ExitCode, String> {
    let url = args.positional.first().ok_or("PLAYLIST_URL is required")?;
    let seconds = args.number("seconds", 12.0)?;
    let report = check_stream(url, Duration::from_secs_f64(seconds)).await;
    if args.flag("json") {
        let rules: Vec<_> = report
            .rules
            .iter()
            .map(|rule| {
                serde_json::json!({
                    "id": rule.id,
                    "outcome": format!("{:?}", rule.outcome).to_lowercase(),
                    "checks": rule.checks,
                    "failures": rule.failures,
                    "details": rule.details,
                })
            })
            .collect();
        let metrics: serde_json::Map<_, _> =
            report.metrics.iter().map(|(name, value)| (name.clone(), serde_json::Value::from(value.clone()))).collect();
        println!("{}", serde_json::json!({"playlist": report.playlist_url, "rules": rules, "metrics": metrics}));
    } else {
        println!("{report}");
    }
    Ok(if report.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn probe(args: &Args) -> Result<ExitCode, String> {
    let defaults = ProbeConfig::default();
    let config = ProbeConfig {
        publish_url: args.required("publish-url")?.to_string(),
        playlist_url: args.required("playlist")?.to_string(),
        seconds: args.number("seconds", defaults.seconds)?,
        input: args.value("input").map(PathBuf::from),
        size: args.value("size").unwrap_or(&defaults.size).to_string(),
        fps: args.number("fps", defaults.fps as f64)? as u32,
        gop_seconds: args.number("gop", defaults.gop_seconds)?,
        bitrate: args.value("bitrate").unwrap_or(&defaults.bitrate).to_string(),
        poll: Duration::from_secs_f64(args.number("poll-ms", 20.0)? / 1000.0),
    };
    let result = run_probe(&config).await?;
    println!("{}", result.to_json());
    Ok(ExitCode::SUCCESS)
}

async fn idle_connections(args: &Args) -> Result<ExitCode, String> {
    let url = Url::parse(args.required("url")?).map_err(|e| e.to_string())?;
    let count = args.number("connections", 100.0)? as usize;
    let hold = Duration::from_secs_f64(args.number("seconds", 30.0)?);
    let connections = idle::open_idle_connections(&url, count).await.map_err(|e| e.to_string())?;
    println!("ready {}", connections.len());
    std::io::stdout().flush().ok();
    tokio::time::sleep(hold).await;
    println!("closed {}", idle::closed_count(&connections));
    Ok(ExitCode::SUCCESS)
}

async fn blocked_viewers(args: &Args) -> Result<ExitCode, String> {
    if let Some(ca_file) = args.value("ca-file") {
        let pem = std::fs::read(ca_file).map_err(|e| format!("--ca-file {ca_file}: {e}"))?;
        loadtest::h2::trust_ca_pem(&pem).map_err(|e| e.to_string())?;
    }
    let transport = args.value("transport").unwrap_or("http1");
    let config = ViewersConfig {
        playlist: Url::parse(args.required("playlist")?).map_err(|e| e.to_string())?,
        transport: Transport::parse(transport)
            .ok_or_else(|| format!("--transport {transport}: http1, http1-tls or h2"))?,
        viewers: args.number("viewers", 1000.0)? as usize,
        rounds: args.number("rounds", 3.0)? as usize,
        server_pid: args
            .value("server-pid")
            .map(|pid| pid.parse().map_err(|_| format!("bad pid {pid}")))
            .transpose()?,
    };
    let report = run_viewers(&config).await.map_err(|e| e.to_string())?;
    println!("{}", report.to_json());
    Ok(ExitCode::SUCCESS)
}

fn free_ports(args: &Args) -> Result<ExitCode, String> {
    let count: usize = match args.positional.first() {
        Some(text) => text.parse().map_err(|_| format!("bad count {text}"))?,
        None => 1,
    };
    // Hold all listeners until every port is printed so they differ.
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    for listener in &listeners {
        println!("{}", listener.local_addr().map_err(|e| e.to_string())?.port());
    }
    Ok(ExitCode::SUCCESS)
}
