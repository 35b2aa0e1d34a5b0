//! `relay`: one binary, several roles. `relay all` runs ingest, origin and
//! the management service in one process on SQLite and a local directory.

mod access_log;
mod acme;
mod banner;
mod config;
mod error;
mod first_key;
mod http;
mod http_metrics;
mod logging;
mod metrics;
mod open_files;
mod roles;
mod stacks;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Source, Sources};
use crate::error::ServerError;

#[derive(Parser)]
#[command(name = "relay", version, about = "Live RTMP/RTSP to LL-HLS origin")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from; flags win over the file and the
/// environment.
#[derive(clap::Args, Clone, Default)]
pub struct Overrides {
    /// Configuration file (TOML, see relay.toml.example); RELAY_<SECTION>_<KEY>
    /// environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// rtmp.listen
    #[arg(long)]
    rtmp_listen: Option<std::net::SocketAddr>,
    /// http.listen
    #[arg(long)]
    http_listen: Option<std::net::SocketAddr>,
    /// server.data_dir
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// server.public_host
    #[arg(long)]
    public_host: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: RTMP and RTSP ingest, LL-HLS origin, API.
    All(Overrides),
    /// Cluster role: publishers in; live edge served to origin pods on cluster.internal_listen.
    Ingest(Overrides),
    /// Cluster role: viewers; live parts and playlists fetched from the owning ingest pod.
    Origin(Overrides),
    /// Cluster role: the management API and console.
    Api(Overrides),
    /// Manage streams in the database.
    Streams {
        #[command(subcommand)]
        command: StreamsCommand,
    },
    /// Check or print the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum StreamsCommand {
    /// Add a stream; prints its key.
    Add {
        name: String,
        /// Use this key instead of a random one.
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Give a push stream a new key and print it. The old key stops
    /// working for new publishes; the console's or the API's rotation also
    /// disconnects a publisher that is live.
    RotateKey {
        name: String,
        #[command(flatten)]
        overrides: Overrides,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Loads FILE and the RELAY_* environment as a role would, and says
    /// what is wrong, naming the line or the variable.
    Check { file: Option<PathBuf> },
    /// Prints every key with its default and why it is there.
    Defaults,
}

/// The configuration a command runs with: defaults, file, environment,
/// flags, then checked.
fn load_config(overrides: &Overrides) -> Result<Config, ServerError> {
    let (mut config, mut sources) = Config::load(overrides.config.as_deref(), std::env::vars())?;
    apply_flags(&mut config, &mut sources, overrides);
    config.validate().map_err(|(key, message)| sources.refused(key, message))?;
    Ok(config)
}

fn apply_flags(config: &mut Config, sources: &mut Sources, overrides: &Overrides) {
    if let Some(address) = overrides.rtmp_listen {
        config.rtmp.listen = address;
        sources.set("rtmp.listen", Source::Flag { name: "rtmp-listen" });
    }
    if let Some(address) = overrides.http_listen {
        config.http.listen = address;
        sources.set("http.listen", Source::Flag { name: "http-listen" });
    }
    if let Some(directory) = &overrides.data_dir {
        config.server.data_dir = directory.clone();
        sources.set("server.data_dir", Source::Flag { name: "data-dir" });
    }
    if let Some(host) = &overrides.public_host {
        config.server.public_host = host.clone();
        sources.set("server.public_host", Source::Flag { name: "public-host" });
    }
}

async fn run(command: Command) -> Result<(), ServerError> {
    match command {
        Command::All(overrides) => start(&overrides, roles::all).await,
        Command::Ingest(overrides) => start(&overrides, roles::ingest).await,
        Command::Origin(overrides) => start(&overrides, roles::origin).await,
        Command::Api(overrides) => start(&overrides, roles::api).await,
        Command::Streams { command: StreamsCommand::Add { name, key, overrides } } => {
            let config = load_config(&overrides)?;
            let foundation = stacks::Foundation::open(config, "cli".into()).await?;
            let stream = foundation.database.add_stream(&name, key.as_deref()).await?;
            println!("Stream {} added. Stream key: {}", stream.name, stream.issued_key.unwrap_or_default());
            Ok(())
        }
        Command::Streams { command: StreamsCommand::RotateKey { name, overrides } } => {
            let config = load_config(&overrides)?;
            let foundation = stacks::Foundation::open(config, "cli".into()).await?;
            let Some(stream) = foundation.database.stream_by_name(&name).await? else {
                return Err(ServerError::UnknownStream(name));
            };
            let rotated = foundation.database.rotate_stream_key(&stream.id).await?;
            foundation.database.record_audit(None, "local", "stream.rotate_key", "stream", &stream.id).await?;
            println!("Stream {} has a new key: {}", rotated.name, rotated.issued_key.unwrap_or_default());
            Ok(())
        }
        Command::Config { command: ConfigCommand::Check { file } } => {
            load_config(&Overrides { config: file, ..Overrides::default() })?;
            println!("configuration is valid");
            Ok(())
        }
        Command::Config { command: ConfigCommand::Defaults } => {
            print!("{}", config::DEFAULTS);
            Ok(())
        }
    }
}

async fn start<F>(overrides: &Overrides, role: fn(Config) -> F) -> Result<(), ServerError>
where
    F: std::future::Future<Output = Result<(), ServerError>>,
{
    let config = load_config(overrides)?;
    logging::init(config.server.log_format);
    role(config).await
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("relay: {error}");
            ExitCode::FAILURE
        }
    }
}
