//! `relay`: one binary, several roles. `relay all` runs ingest, origin and
//! the management service in one process on SQLite and a local directory.

mod all;
mod config;
mod metrics;
mod roles;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "relay", version, about = "Live RTMP to LL-HLS origin")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone, Default)]
pub struct Overrides {
    /// Configuration file (TOML); RELAY_* environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    rtmp_listen: Option<std::net::SocketAddr>,
    #[arg(long)]
    http_listen: Option<std::net::SocketAddr>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    public_host: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: RTMP ingest, LL-HLS origin, API.
    All(Overrides),
    /// Cluster role: publishers in; live edge served to origin pods on internal_listen.
    Ingest(Overrides),
    /// Cluster role: viewers; live parts and playlists fetched from the owning ingest pod.
    Origin(Overrides),
    /// Cluster role: the management service.
    Api(Overrides),
    /// Manage streams in the database.
    Streams {
        #[command(subcommand)]
        command: StreamsCommand,
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
}

fn load_config(overrides: &Overrides) -> Result<config::Config, String> {
    let mut config = config::Config::load(overrides.config.as_deref(), std::env::vars())?;
    if let Some(address) = overrides.rtmp_listen {
        config.rtmp_listen = address;
    }
    if let Some(address) = overrides.http_listen {
        config.http_listen = address;
    }
    if let Some(directory) = &overrides.data_dir {
        config.data_dir = directory.clone();
    }
    if let Some(host) = &overrides.public_host {
        config.public_host = Some(host.clone());
    }
    config.validate()?;
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("relay: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::All(overrides) => {
                let config = load_config(&overrides)?;
                all::init_logging(&config.log_format);
                all::run(config).await
            }
            Command::Ingest(overrides) => {
                let config = load_config(&overrides)?;
                all::init_logging(&config.log_format);
                roles::run_ingest(config).await
            }
            Command::Origin(overrides) => {
                let config = load_config(&overrides)?;
                all::init_logging(&config.log_format);
                roles::run_origin(config).await
            }
            Command::Api(overrides) => {
                let config = load_config(&overrides)?;
                all::init_logging(&config.log_format);
                roles::run_api(config).await
            }
            Command::Streams { command: StreamsCommand::Add { name, key, overrides } } => {
                let config = load_config(&overrides)?;
                let database = roles::connect_database(&config).await?;
                let stream = database.add_stream(&name, key.as_deref()).await.map_err(|error| error.to_string())?;
                println!("Stream {} added. Stream key: {}", stream.name, stream.stream_key);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("relay: {message}");
            ExitCode::FAILURE
        }
    }
}
