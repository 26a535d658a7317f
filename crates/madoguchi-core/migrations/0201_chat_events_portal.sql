-- The operator console's lifecycle catch-up reads one portal's events after an id.
create index chat_events_portal on chat_events(portal_id, id);
