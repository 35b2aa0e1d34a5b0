use std::net::SocketAddr;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("relay-config-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_validate() {
    Config::default().validate().unwrap();
}

#[test]
fn the_annotated_defaults_are_the_defaults() {
    let parsed: Config = toml::from_str(DEFAULTS).unwrap();
    assert_eq!(parsed, Config::default(), "relay.toml.example and the code disagree on a default");
}

#[test]
fn every_key_is_in_the_example_with_a_comment_above_it() {
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    let lines: Vec<&str> = DEFAULTS.lines().collect();
    for (section, entries) in &defaults {
        let toml::Value::Table(entries) = entries else { panic!("{section} is not a section") };
        let header = lines.iter().position(|line| *line == format!("[{section}]"));
        let header = header.unwrap_or_else(|| panic!("[{section}] is missing from relay.toml.example"));
        for key in entries.keys() {
            let at = lines[header..]
                .iter()
                .position(|line| line.starts_with(&format!("{key} = ")))
                .unwrap_or_else(|| panic!("{section}.{key} is missing from relay.toml.example"));
            // A comment says why, directly above the key or above the pair it belongs to.
            let is_key = |line: &&&str| !line.starts_with('#') && line.contains(" = ");
            let above = lines[header + 1..header + at].iter().rev().find(|line| !is_key(line));
            assert!(above.is_some_and(|line| line.starts_with("# ")), "{section}.{key} has no comment above it");
        }
    }
}

#[test]
fn environment_values_take_the_type_of_the_setting() {
    let (config, sources) = Config::load(
        None,
        env(&[
            ("RELAY_LIVE_PART_TARGET_MS", "300"),
            ("RELAY_HTTP_LISTEN", "127.0.0.1:9000"),
            ("RELAY_S3_FORCE_PATH_STYLE", "true"),
            ("RELAY_S3_BUCKET", "12345"),
            ("RELAY_CAMERAS_LEASE_BACKEND", "kubernetes"),
            ("HOME", "/"),
        ]),
    )
    .unwrap();
    assert_eq!(config.live.part_target_ms, 300);
    assert_eq!(config.http.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
    assert!(config.s3.force_path_style);
    assert_eq!(config.s3.bucket, "12345", "digits stay text where the setting is text");
    assert_eq!(config.cameras.lease_backend, cameras::LeaseBackend::Kubernetes);
    assert_eq!(sources.of("s3.bucket"), Source::Environment { variable: "RELAY_S3_BUCKET".into() });
    assert_eq!(sources.of("live.segment_target_ms"), Source::Default);
    config.validate().unwrap();
}

#[test]
fn environment_errors_name_the_variable() {
    let message = |pairs: &[(&str, &str)]| Config::load(None, env(pairs)).unwrap_err().to_string();
    let unknown = message(&[("RELAY_LIVE_PART_TARGET", "300")]);
    assert!(unknown.contains("RELAY_LIVE_PART_TARGET") && unknown.contains("part_target_ms"), "{unknown}");
    let section = message(&[("RELAY_STREAMS_MAX", "3")]);
    assert!(section.contains("RELAY_STREAMS_MAX") && section.contains("no section [streams]"), "{section}");
    let number = message(&[("RELAY_RTMP_MAX_CONNECTIONS", "many")]);
    assert!(number.contains("RELAY_RTMP_MAX_CONNECTIONS") && number.contains("whole number"), "{number}");
    let address = message(&[("RELAY_HTTP_LISTEN", "localhost")]);
    assert!(address.contains("http.listen") && address.contains("RELAY_HTTP_LISTEN"), "{address}");
    let choice = message(&[("RELAY_STORAGE_KIND", "nfs")]);
    assert!(choice.contains("RELAY_STORAGE_KIND") && choice.contains("local"), "{choice}");
}

#[test]
fn file_values_apply_and_file_errors_name_the_line() {
    let path = temp_file("good", "[live]\nsegment_target_ms = 4000\n\n[server]\nlog_format = \"json\"\n");
    let (config, sources) = Config::load(Some(&path), env(&[("RELAY_LIVE_PART_TARGET_MS", "250")])).unwrap();
    assert_eq!((config.live.segment_target_ms, config.live.part_target_ms), (4000, 250));
    assert_eq!(config.server.log_format, LogFormat::Json);
    assert_eq!(sources.of("live.segment_target_ms"), Source::File { path: path.clone(), line: 2 });

    std::fs::write(&path, "[live]\n\nsegment_target = 4000\n").unwrap();
    let unknown = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
    assert!(unknown.contains("line 3") && unknown.contains("segment_target"), "{unknown}");
    std::fs::write(&path, "[http]\nlisten = 8080\n").unwrap();
    let typed = Config::load(Some(&path), Vec::new()).unwrap_err().to_string();
    assert!(typed.contains("line 2"), "{typed}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn refused_values_name_their_source() {
    let path = temp_file("refused", "[live]\npart_target_ms = 10\n");
    let (config, sources) = Config::load(Some(&path), Vec::new()).unwrap();
    let (key, message) = config.validate().unwrap_err();
    let error = sources.refused(key, message).to_string();
    assert!(error.contains("live.part_target_ms") && error.contains("line 2"), "{error}");
    let (config, sources) = Config::load(None, env(&[("RELAY_STORAGE_KIND", "s3")])).unwrap();
    let (key, message) = config.validate().unwrap_err();
    let error = sources.refused(key, message).to_string();
    assert!(error.contains("s3.bucket") && error.contains("the default"), "{error}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn lists_come_from_the_environment_comma_separated() {
    let (config, _) = Config::load(
        None,
        env(&[
            ("RELAY_PROXY_TRUSTED_NETWORKS", "10.0.0.0/8, 2001:db8::/32"),
            ("RELAY_PROXY_FORWARDED_HEADER", "forwarded"),
        ]),
    )
    .unwrap();
    let networks: Vec<String> = config.proxy.trusted_networks.iter().map(ToString::to_string).collect();
    assert_eq!(networks, ["10.0.0.0/8", "2001:db8::/32"]);
    assert_eq!(config.proxy.forwarded_header, ForwardedHeader::Forwarded);
    let (config, _) = Config::load(None, env(&[("RELAY_PROXY_TRUSTED_NETWORKS", "")])).unwrap();
    assert!(config.proxy.trusted_networks.is_empty());
    assert!(Config::load(None, env(&[("RELAY_PROXY_TRUSTED_NETWORKS", "not-a-network")])).is_err());
}

#[test]
fn bad_values_are_refused() {
    let refused = |change: fn(&mut Config)| {
        let mut config = Config::default();
        change(&mut config);
        config.validate().unwrap_err().0
    };
    assert_eq!(refused(|config| config.live.segment_target_ms = 300), "live.segment_target_ms");
    assert_eq!(
        refused(|config| config.cameras.kubernetes_namespace = "Video_1".into()),
        "cameras.kubernetes_namespace"
    );
    assert_eq!(refused(|config| config.http.idle_timeout_ms = 50), "http.idle_timeout_ms");
    assert_eq!(refused(|config| config.rtmp.max_connections = 0), "rtmp.max_connections");
    assert_eq!(refused(|config| config.database.url = "mysql://x".into()), "database.url");
}

#[test]
fn outbound_networks_and_the_internal_secret_come_from_the_environment() {
    let secret = "0123456789abcdef0123456789abcdef";
    let (config, _) = Config::load(
        None,
        env(&[
            ("RELAY_OUTBOUND_ALLOW_NETWORKS", "10.0.0.0/8, fd00::/8,"),
            ("RELAY_CLUSTER_INTERNAL_SECRET", secret),
            ("RELAY_ADMIN_LISTEN", "0.0.0.0:9464"),
        ]),
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(config.outbound.allow_networks, ["10.0.0.0/8", "fd00::/8"]);
    let policy = config.outbound.policy();
    assert!(policy.check("10.1.2.3".parse().unwrap()).is_ok());
    assert!(policy.check("192.168.1.1".parse().unwrap()).is_err());
    assert_eq!(config.cluster.internal_secret, secret);
    assert_eq!(config.admin.listen, SocketAddr::from(([0, 0, 0, 0], 9464)));
    let (empty, _) = Config::load(None, env(&[("RELAY_OUTBOUND_ALLOW_NETWORKS", "")])).unwrap();
    assert!(empty.outbound.allow_networks.is_empty());

    let refused = |change: fn(&mut Config)| {
        let mut config = Config::default();
        change(&mut config);
        config.validate().unwrap_err().0
    };
    assert_eq!(refused(|config| config.outbound.allow_networks = vec!["10.0.0.0".into()]), "outbound.allow_networks");
    assert_eq!(refused(|config| config.cluster.internal_secret = "short".into()), "cluster.internal_secret");
    assert_eq!(
        refused(|config| config.cluster.internal_secret = "0123456789abcdef 0123456789abcdef".into()),
        "cluster.internal_secret"
    );
}
