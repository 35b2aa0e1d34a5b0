//! docs/configuration.md, rendered from the annotated defaults: one table
//! per section with each key's default, variable and comment. A test keeps
//! the file equal to the rendering; `UPDATE_CONFIG_REFERENCE=1` rewrites it.

use super::document::ENV_PREFIX;
use super::{Config, DEFAULTS};

/// One key of relay.toml.example.
#[derive(Debug, PartialEq)]
struct Setting {
    key: String,
    /// The default as the example writes it (TOML).
    default: String,
    description: String,
}

/// Sections in file order, each with its keys in file order. A key without
/// a comment of its own shares the one above it (`access_key_id` and
/// `secret_access_key`).
fn settings(text: &str) -> Vec<(String, Vec<Setting>)> {
    let mut sections: Vec<(String, Vec<Setting>)> = Vec::new();
    let mut comment: Vec<&str> = Vec::new();
    let mut shared = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            sections.push((name.to_owned(), Vec::new()));
            comment.clear();
        } else if let Some(words) = line.strip_prefix('#') {
            comment.push(words.trim());
        } else if let Some((key, default)) = line.split_once(" = ") {
            if !comment.is_empty() {
                shared = comment.join(" ");
                comment.clear();
            }
            if let Some((_, keys)) = sections.last_mut() {
                let (key, default) = (key.trim().to_owned(), default.trim().to_owned());
                keys.push(Setting { key, default, description: shared.clone() });
            }
        } else if line.is_empty() {
            // A blank line ends a comment that belongs to no key (the file's header).
            comment.clear();
        }
    }
    sections
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The whole document.
fn render(text: &str) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from relay.toml.example by services/server/src/config/reference.rs; do not edit.\n     \
         UPDATE_CONFIG_REFERENCE=1 cargo nextest run -p server --bin relay reference rewrites it. -->\n\n\
         Every setting of `relay`, by section, with its default. The server reads them from a TOML file\n\
         (`relay <role> --config relay.toml`), then from environment variables `RELAY_<SECTION>_<KEY>`, which\n\
         win over the file, then from command-line flags (`--http-listen`, `--rtmp-listen`, `--data-dir`,\n\
         `--public-host`), which win over both. Unknown sections, keys and variables are refused, naming the\n\
         line or the variable. A variable's value takes the setting's type; lists are comma-separated\n\
         (`RELAY_OUTBOUND_ALLOW_NETWORKS=10.0.0.0/8,fd00::/8`).\n\n\
         `relay config defaults` prints relay.toml.example, the same settings as a file to start from;\n\
         `relay config check FILE` checks a file and the environment without starting anything.\n",
    );
    let sections = settings(text);
    out.push_str("\nSections:");
    for (index, (name, _)) in sections.iter().enumerate() {
        let separator = if index == 0 { " " } else { ", " };
        out.push_str(&format!("{separator}[{name}](#{name})"));
    }
    out.push_str(".\n");
    for (name, keys) in &sections {
        out.push_str(&format!(
            "\n## {name}\n\n| key | default | environment variable | what it does |\n|---|---|---|---|\n"
        ));
        for setting in keys {
            let variable = format!("{ENV_PREFIX}{}_{}", name.to_uppercase(), setting.key.to_uppercase());
            out.push_str(&format!(
                "| `{}` | `{}` | `{variable}` | {} |\n",
                setting.key,
                cell(&setting.default),
                cell(&setting.description)
            ));
        }
    }
    out
}

#[test]
fn every_setting_of_the_code_is_in_the_reference_once_with_a_description() {
    let code = toml::Table::try_from(Config::default()).unwrap();
    let documented = settings(DEFAULTS);
    let mut names: Vec<&str> = documented.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    let mut sections: Vec<&str> = code.keys().map(String::as_str).collect();
    sections.sort_unstable();
    assert_eq!(names, sections, "sections differ from the code's");
    for (section, keys) in &documented {
        let toml::Value::Table(entries) = &code[section] else { panic!("{section} is not a section") };
        let mut listed: Vec<&str> = keys.iter().map(|setting| setting.key.as_str()).collect();
        listed.sort_unstable();
        let mut keys_of_code: Vec<&str> = entries.keys().map(String::as_str).collect();
        keys_of_code.sort_unstable();
        assert_eq!(listed, keys_of_code, "[{section}] keys");
        for setting in keys {
            assert!(!setting.description.is_empty(), "{section}.{} has no description", setting.key);
            // The default shown is the code's default.
            let shown: toml::Table = toml::from_str(&format!("v = {}", setting.default)).unwrap();
            assert_eq!(shown["v"], entries[&setting.key], "{section}.{}", setting.key);
        }
    }
}

#[test]
fn comments_attach_to_their_key_and_pairs_share_one() {
    let text = "# header\n\n[s3]\n# Static credentials.\naccess_key_id = \"\"\nsecret_access_key = \"\"\n\n\
                [http]\n# Where.\n# On two lines.\nlisten = \"0.0.0.0:8080\"\n";
    let parsed = settings(text);
    let setting = |key: &str, default: &str, description: &str| Setting {
        key: key.into(),
        default: default.into(),
        description: description.into(),
    };
    assert_eq!(
        parsed,
        [
            (
                "s3".to_owned(),
                vec![
                    setting("access_key_id", "\"\"", "Static credentials."),
                    setting("secret_access_key", "\"\"", "Static credentials.")
                ]
            ),
            ("http".to_owned(), vec![setting("listen", "\"0.0.0.0:8080\"", "Where. On two lines.")]),
        ]
    );
    let document = render(text);
    assert!(document.contains("| `secret_access_key` | `\"\"` | `RELAY_S3_SECRET_ACCESS_KEY` | Static credentials. |"));
    assert!(document.contains("Sections: [s3](#s3), [http](#http)."));
}

/// docs/configuration.md is the rendering of relay.toml.example, which
/// `the_annotated_defaults_are_the_defaults` holds equal to the code.
#[test]
fn the_published_reference_is_the_rendered_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let rendered = render(DEFAULTS);
    if std::env::var_os("UPDATE_CONFIG_REFERENCE").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == rendered,
        "{} differs from relay.toml.example; run with UPDATE_CONFIG_REFERENCE=1",
        path.display()
    );
}
