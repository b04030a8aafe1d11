//! The daemon's services, wired together once at startup.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_image::{ImageStore, ImageUser};
use berth_oci::Digest;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::EventBus;

pub struct Daemon {
    pub config: Config,
    pub images: ImageStore,
    pub events: Arc<EventBus>,
    /// Persistent engine id (`/info` `ID`), kept in the data root.
    pub engine_id: String,
    /// Cancelled when the daemon shuts down: long streams end with it.
    pub shutdown: CancellationToken,
}

impl Daemon {
    pub fn open(config: Config) -> anyhow::Result<Daemon> {
        let events = Arc::new(EventBus::new());
        let sink = {
            let events = events.clone();
            Box::new(
                move |action: &str,
                      id: &Digest,
                      name: &str,
                      labels: &serde_json::Map<String, serde_json::Value>| {
                    let mut attrs: BTreeMap<String, String> = labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect();
                    attrs.insert("name".into(), name.to_string());
                    events.publish("image", action, &id.to_string(), attrs);
                },
            )
        };
        let images = ImageStore::open(&config.data_root, sink)?;
        let engine_id = engine_id(&config.data_root)?;
        Ok(Daemon {
            config,
            images,
            events,
            engine_id,
            shutdown: CancellationToken::new(),
        })
    }

    /// Containers using an image (none until containers exist).
    pub fn image_users(&self, _id: &Digest) -> Vec<ImageUser> {
        Vec::new()
    }
}

fn engine_id(root: &Path) -> anyhow::Result<String> {
    let p = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        let s = s.trim();
        if !s.is_empty() {
            return Ok(s.to_string());
        }
    }
    let hex = berth_store::random_hex(16);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    berth_store::write_atomic(&p, id.as_bytes(), 0o600)?;
    Ok(id)
}
