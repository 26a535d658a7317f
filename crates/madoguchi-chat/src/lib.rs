//! Chat bounded context (SPEC C1–C6): portals and plans, operators and departments,
//! visitors, chats and their durable, gap-free message sequence. It never imports the
//! Desk context.

use madoguchi_core::bus::Bus;
use madoguchi_core::{Clock, Db};
use std::sync::Arc;

#[derive(Clone)]
pub struct Chat {
    pub(crate) db: Db,
    pub(crate) clock: Clock,
    pub(crate) bus: Arc<dyn Bus>,
}

impl Chat {
    pub fn new(db: Db, clock: Clock, bus: Arc<dyn Bus>) -> Self {
        Self { db, clock, bus }
    }
}
