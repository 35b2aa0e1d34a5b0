//! Secrets at rest: what a copy of the database file shows, and what the
//! server reads back, with and without a sealing key.

use catalog::{CameraPullMode, CameraSource, Database, NewStream, SecretSealer, WebhookEvent};
use sqlx::Row;

/// A scratch directory removed when the test ends.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("catalog-sealing-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CAMERA_PASSWORD: &str = "camera-password-7f3a";
const WEBHOOK_SECRET: &str = "webhook-secret-0123456789abcdef";

fn camera() -> NewStream {
    NewStream {
        name: "lobby".into(),
        device_id: None,
        stream_key: None,
        camera: Some(CameraSource {
            url: "rtsp://camera.example.com:554/stream1".into(),
            username: Some("admin".into()),
            password: Some(CAMERA_PASSWORD.into()),
            mode: CameraPullMode::Always,
            linger_ms: 30_000,
        }),
    }
}

/// Every stored secret, as the database file holds it.
async fn stored_secrets(database: &Database) -> Vec<String> {
    let pool = database.db().pool();
    let mut stored = Vec::new();
    for (query, column) in [
        ("SELECT secret FROM signing_keys", "secret"),
        ("SELECT secret FROM webhooks", "secret"),
        ("SELECT password FROM camera_sources", "password"),
    ] {
        for row in sqlx::query(query).fetch_all(pool).await.unwrap() {
            stored.push(row.try_get::<String, _>(column).unwrap());
        }
    }
    stored
}

async fn open(scratch: &Scratch, sealer: SecretSealer) -> Database {
    Database::open_sqlite(&scratch.0.join("relay.db")).await.unwrap().with_sealer(sealer)
}

fn sealer(key: &str) -> SecretSealer {
    SecretSealer::from_hex_key(key).unwrap()
}

#[tokio::test]
async fn with_a_key_no_secret_is_readable_from_the_database_and_all_read_back() {
    let scratch = Scratch::new();
    let key = SecretSealer::generate_hex_key().unwrap();
    let database = open(&scratch, sealer(&key)).await;
    let stream = database.create_stream(&camera()).await.unwrap();
    database
        .create_webhook("https://hooks.example.com/relay", &[WebhookEvent::OnPublish], WEBHOOK_SECRET, true)
        .await
        .unwrap();
    let (signing, _) = database.current_signing_key().await.unwrap();

    let stored = stored_secrets(&database).await;
    assert_eq!(stored.len(), 3);
    for value in &stored {
        assert!(SecretSealer::is_sealed(value), "stored in clear: {value}");
        assert!(!value.contains(CAMERA_PASSWORD) && !value.contains(WEBHOOK_SECRET));
    }

    let source = database.camera_source(&stream.id).await.unwrap().unwrap();
    assert_eq!(source.password.as_deref(), Some(CAMERA_PASSWORD));
    assert_eq!(database.camera_sources_by_name().await.unwrap()[0].1.password.as_deref(), Some(CAMERA_PASSWORD));
    assert_eq!(database.webhooks().await.unwrap()[0].secret, WEBHOOK_SECRET);
    let (again, made) = database.current_signing_key().await.unwrap();
    assert!(!made);
    assert_eq!(again.secret(), signing.secret());

    // Another pod with another key, or none, cannot read them: it says so.
    let wrong = open(&scratch, sealer(&SecretSealer::generate_hex_key().unwrap())).await;
    assert!(matches!(wrong.webhooks().await, Err(catalog::CatalogError::SealingKey(_))));
    let keyless = open(&scratch, SecretSealer::plain()).await;
    assert!(matches!(keyless.camera_source(&stream.id).await, Err(catalog::CatalogError::SealingKey(_))));
}

#[tokio::test]
async fn rows_written_in_clear_are_sealed_once_a_key_is_given() {
    let scratch = Scratch::new();
    let clear = open(&scratch, SecretSealer::plain()).await;
    let stream = clear.create_stream(&camera()).await.unwrap();
    clear
        .create_webhook("https://hooks.example.com/relay", &[WebhookEvent::OnPlay], WEBHOOK_SECRET, true)
        .await
        .unwrap();
    let (signing, _) = clear.current_signing_key().await.unwrap();
    assert!(stored_secrets(&clear).await.iter().all(|value| !SecretSealer::is_sealed(value)));
    assert_eq!(clear.seal_plain_secrets().await.unwrap(), 0, "nothing to seal with");

    let sealed = open(&scratch, sealer(&SecretSealer::generate_hex_key().unwrap())).await;
    assert_eq!(sealed.seal_plain_secrets().await.unwrap(), 3);
    assert_eq!(sealed.seal_plain_secrets().await.unwrap(), 0, "a second start seals nothing");
    assert!(stored_secrets(&sealed).await.iter().all(|value| SecretSealer::is_sealed(value)));
    assert_eq!(sealed.camera_source(&stream.id).await.unwrap().unwrap().password.as_deref(), Some(CAMERA_PASSWORD));
    assert_eq!(sealed.webhooks().await.unwrap()[0].secret, WEBHOOK_SECRET);
    assert_eq!(sealed.current_signing_key().await.unwrap().0.secret(), signing.secret());
}

/// Rotation: a pod given the new key and the previous one reads every
/// secret, seals the old rows again under the new key at start, and from
/// then on the new key alone reads them.
#[tokio::test]
async fn rows_sealed_under_a_rotated_key_are_sealed_again_under_the_new_one() {
    let scratch = Scratch::new();
    let (old, new) = (SecretSealer::generate_hex_key().unwrap(), SecretSealer::generate_hex_key().unwrap());
    let before = open(&scratch, sealer(&old)).await;
    let stream = before.create_stream(&camera()).await.unwrap();
    before
        .create_webhook("https://hooks.example.com/relay", &[WebhookEvent::OnPlay], WEBHOOK_SECRET, true)
        .await
        .unwrap();
    let (signing, _) = before.current_signing_key().await.unwrap();
    let sealed_under_old = stored_secrets(&before).await;

    let rotating = open(&scratch, sealer(&new).with_previous_hex_key(&old).unwrap()).await;
    assert_eq!(rotating.webhooks().await.unwrap()[0].secret, WEBHOOK_SECRET, "old rows read during the rotation");
    assert_eq!(rotating.seal_plain_secrets().await.unwrap(), 3);
    assert_eq!(rotating.seal_plain_secrets().await.unwrap(), 0, "a second start seals nothing");
    let resealed = stored_secrets(&rotating).await;
    assert!(resealed.iter().all(|value| SecretSealer::is_sealed(value) && !sealed_under_old.contains(value)));

    let after = open(&scratch, sealer(&new)).await;
    assert_eq!(after.camera_source(&stream.id).await.unwrap().unwrap().password.as_deref(), Some(CAMERA_PASSWORD));
    assert_eq!(after.webhooks().await.unwrap()[0].secret, WEBHOOK_SECRET);
    assert_eq!(after.current_signing_key().await.unwrap().0.secret(), signing.secret());
    let retired = open(&scratch, sealer(&old)).await;
    assert!(matches!(retired.webhooks().await, Err(catalog::CatalogError::SealingKey(_))), "the old key is retired");
}
