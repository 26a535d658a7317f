//! Desk bounded context (SPEC D1–D7): portals and members, departments, contacts,
//! accounts, SLAs, contracts, tickets with threads, search and service keys.
//! It never imports the Chat context; the integration reaches it through its API.

use madoguchi_core::{Clock, Db};

#[derive(Clone)]
pub struct Desk {
    pub(crate) db: Db,
    pub(crate) clock: Clock,
    /// `--public-url` without a trailing slash, for ticket `webUrl`s.
    pub(crate) public_url: String,
}

impl Desk {
    pub fn new(db: Db, clock: Clock, public_url: String) -> Self {
        Self {
            db,
            clock,
            public_url,
        }
    }
}
