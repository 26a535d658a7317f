//! The state every handler receives: services of each bounded context plus the shared
//! kernel. Cloning is cheap (every member is a handle).

use crate::app::Settings;
use crate::metrics::Metrics;
use madoguchi_core::bus::Bus;
use madoguchi_core::identity::Identity;
use madoguchi_core::{Clock, Db};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: Clock,
    pub bus: Arc<dyn Bus>,
    pub identity: Identity,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    pub desk: madoguchi_desk::Desk,
    pub chat: madoguchi_chat::Chat,
    pub integration: madoguchi_integration::Integration,
    /// The email channel of this node (fetchers, sender, connection tests).
    pub mail: madoguchi_mail::Mail,
    /// Open WebSockets of this node, counted against their limits (Q6).
    pub sockets: crate::sockets::Sockets,
}
