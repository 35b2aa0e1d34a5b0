//! on_play: the catalog's webhooks decide whether a viewer may start a
//! session; their answer is remembered a minute per (stream, address).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use catalog::{PublishDecision, WebhookSender};
use tokio::time::Instant;

use crate::access_gate::PlayHook;

/// on_play through the catalog's webhooks, answered once per (stream,
/// client address) a minute so a session costs one delivery.
pub struct OnPlayWebhooks {
    webhooks: WebhookSender,
    decided: Mutex<HashMap<(String, IpAddr), (Instant, bool)>>,
}

impl OnPlayWebhooks {
    const REMEMBER: Duration = Duration::from_secs(60);

    pub fn new(webhooks: WebhookSender) -> Self {
        Self { webhooks, decided: Mutex::default() }
    }
}

impl PlayHook for OnPlayWebhooks {
    fn allow<'a>(
        &'a self,
        stream: &'a str,
        client: IpAddr,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let key = (stream.to_owned(), client);
            if let Some((at, allowed)) = self.decided.lock().ok().and_then(|decided| decided.get(&key).copied()) {
                if at.elapsed() < Self::REMEMBER {
                    return allowed;
                }
            }
            let allowed = match self.webhooks.on_play(stream, Some(client)).await {
                PublishDecision::Allow => true,
                PublishDecision::Deny(reason) => {
                    tracing::info!(stream, %client, %reason, "playback refused by on_play");
                    false
                }
            };
            if let Ok(mut decided) = self.decided.lock() {
                if decided.len() > 100_000 {
                    decided.retain(|_, (at, _)| at.elapsed() < Self::REMEMBER);
                }
                decided.insert(key, (Instant::now(), allowed));
            }
            allowed
        })
    }
}
