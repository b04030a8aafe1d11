//! The event bus behind `GET /events`: a broadcast channel for live subscribers and a
//! bounded in-memory history for `since` (Docker keeps the last 256; we keep more).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

const HISTORY: usize = 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, serialised exactly as Docker's API sends it (with the legacy
/// `status`/`id`/`from` fields older clients read).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (tx, _) = broadcast::channel(1024);
        EventBus {
            tx,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }

    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = chrono::Utc::now();
        let time_nano = now.timestamp_nanos_opt().unwrap_or(0);
        // Only containers and images carry the legacy fields in Docker's output.
        let legacy = kind == "container" || kind == "image";
        let ev = Event {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| actor_id.to_string()),
            from: if kind == "container" {
                attributes.get("image").cloned()
            } else {
                None
            },
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: actor_id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano,
        };
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        // No subscribers is not an error.
        let _ = self.tx.send(ev);
    }

    /// Subscribes first, then copies the history, so no event falls between the two;
    /// the caller drops live events not newer than the last history event it sent.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let rx = self.tx.subscribe();
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (h.iter().cloned().collect(), rx)
    }
}
