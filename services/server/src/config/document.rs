//! Reading the document: defaults, then the file, then the environment,
//! each value remembered with where it came from, so an error can say
//! "relay.toml line 12" or "RELAY_S3_BUCKET" instead of only the key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;

/// The prefix of configuration variables: `RELAY_<SECTION>_<KEY>`.
pub const ENV_PREFIX: &str = "RELAY_";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File { path: PathBuf, line: usize },
    Environment { variable: String },
    Flag { name: &'static str },
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => formatter.write_str("the default"),
            Source::File { path, line } => write!(formatter, "{} line {line}", path.display()),
            Source::Environment { variable } => write!(formatter, "environment variable {variable}"),
            Source::Flag { name } => write!(formatter, "flag --{name}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    /// The file is not TOML, or a key or value in it is wrong; the message
    /// carries the line and column.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("environment variable {variable}: {message}")]
    Environment { variable: String, message: String },
    #[error("{key} (from {origin}): {message}")]
    Invalid { key: String, origin: Source, message: String },
}

/// Where each `section.key` that is not a default came from.
#[derive(Debug, Clone, Default)]
pub struct Sources(BTreeMap<String, Source>);

impl Sources {
    pub fn of(&self, key: &str) -> Source {
        self.0.get(key).cloned().unwrap_or(Source::Default)
    }

    pub fn set(&mut self, key: &str, source: Source) {
        self.0.insert(key.to_owned(), source);
    }

    /// A value of `key` that `validate` (or a later step) refused.
    pub fn refused(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { key: key.to_owned(), origin: self.of(key), message: message.into() }
    }
}

impl Config {
    /// Defaults, overlaid with `file` (if any) and then the `RELAY_*`
    /// variables of `environment`. Not yet validated (flags come first).
    pub fn load(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Sources), ConfigError> {
        let mut sources = Sources::default();
        let mut table = defaults_table();
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
            let file_error = |message: String| ConfigError::File { path: path.to_owned(), message };
            // Typed first: toml's errors then name the line and the key.
            toml::from_str::<Config>(&text).map_err(|error| file_error(error.to_string()))?;
            let from_file: toml::Table = toml::from_str(&text).map_err(|error| file_error(error.to_string()))?;
            for (key, line) in key_lines(&text) {
                sources.set(&key, Source::File { path: path.to_owned(), line });
            }
            merge(&mut table, from_file);
        }
        for (variable, value) in environment {
            let Some(name) = variable.strip_prefix(ENV_PREFIX) else { continue };
            let (section, key) = env_key(name).ok_or_else(|| ConfigError::Environment {
                variable: variable.clone(),
                message: "not a setting: use RELAY_<SECTION>_<KEY>, e.g. RELAY_HTTP_LISTEN".into(),
            })?;
            let typed = typed_value(&table, &section, &key, &value)
                .map_err(|message| ConfigError::Environment { variable: variable.clone(), message })?;
            if let Some(toml::Value::Table(entries)) = table.get_mut(&section) {
                entries.insert(key.clone(), typed);
            }
            sources.set(&format!("{section}.{key}"), Source::Environment { variable });
        }
        let config = serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table)).map_err(|error| {
            let key = error.path().to_string();
            sources.refused(&key, error.inner().to_string())
        })?;
        Ok((config, sources))
    }
}

/// Every section and key with its default value (and so its type).
fn defaults_table() -> toml::Table {
    // Config serializes to a table of tables of plain values; nothing to fail.
    toml::Table::try_from(Config::default()).unwrap_or_default()
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (name, value) in overlay {
        match (base.get_mut(&name), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(overlay)) => merge(base, overlay),
            (_, value) => {
                base.insert(name, value);
            }
        }
    }
}

/// `S3_BUCKET` as ("s3", "bucket"): the section is the first word.
fn env_key(name: &str) -> Option<(String, String)> {
    let (section, key) = name.split_once('_')?;
    (!section.is_empty() && !key.is_empty()).then(|| (section.to_ascii_lowercase(), key.to_ascii_lowercase()))
}

/// The text of an environment variable as the type of the key's default:
/// digits stay text where the setting is text (a bucket named 12345), and
/// a list is comma-separated (`10.0.0.0/8,192.168.0.0/16`).
fn typed_value(table: &toml::Table, section: &str, key: &str, text: &str) -> Result<toml::Value, String> {
    let Some(toml::Value::Table(entries)) = table.get(section) else {
        let sections: Vec<&str> = table.keys().map(String::as_str).collect();
        return Err(format!("no section [{section}]; sections are {}", sections.join(", ")));
    };
    let Some(default) = entries.get(key) else {
        let keys: Vec<&str> = entries.keys().map(String::as_str).collect();
        return Err(format!("[{section}] has no key {key}; its keys are {}", keys.join(", ")));
    };
    match default {
        toml::Value::Integer(_) => {
            text.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| format!("{text:?} is not a whole number"))
        }
        toml::Value::Float(_) => {
            text.trim().parse::<f64>().map(toml::Value::Float).map_err(|_| format!("{text:?} is not a number"))
        }
        toml::Value::Boolean(_) => match text.trim() {
            "true" => Ok(toml::Value::Boolean(true)),
            "false" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("{text:?} is not true or false")),
        },
        // Lists: comma-separated (RELAY_OUTBOUND_ALLOW_NETWORKS=10.0.0.0/8,fd00::/8).
        toml::Value::Array(_) => Ok(toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        )),
        _ => Ok(toml::Value::String(text.to_owned())),
    }
}

/// The line of every `key = value` in `text`, as `section.key`. Enough for
/// the flat documents this server reads (no dotted keys or inline tables).
fn key_lines(text: &str) -> Vec<(String, usize)> {
    let mut section = String::new();
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            section = name.trim().to_owned();
        } else if let Some((key, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            lines.push((format!("{section}.{}", key.trim()), index + 1));
        }
    }
    lines
}
