-- Chat–Desk integration (SPEC I1–I20): the link of a Chat portal to a Desk portal with
-- its settings, department mappings, chat ↔ ticket links, and the durable outbox (Q2).

-- One row per Chat portal that ever opened the integration settings. The link columns
-- are null until linked; settings live here too so that disabling (I6) or a plan
-- downgrade (I1) keeps them.
create table integ_portals (
    chat_portal_id text primary key,
    desk_portal_name text,
    admin_email text,
    -- kept in clear: it is a credential we present to Desk on every call
    service_key text,
    linked_by text,
    enabled bigint not null default 0,
    auto_ticket text not null default 'all',
    ticket_status text not null default 'Open',
    view_scope text not null default 'all',
    created_at bigint not null,
    updated_at bigint not null
);

-- Department settings (I9, I12, I13). A Chat department without a row is `choose`.
create table integ_department_mappings (
    chat_portal_id text not null,
    chat_department_id text not null,
    mode text not null,
    desk_department_id text,
    auto_associated bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (chat_portal_id, chat_department_id)
);

-- Tickets a chat became or joined (I7, I10, I11).
create table integ_chat_tickets (
    chat_id text not null,
    ticket_id text not null,
    chat_portal_id text not null,
    desk_portal_name text not null,
    -- auto | convert | associate
    origin text not null,
    -- the last chat message seq the ticket's chat thread holds (I11: later messages
    -- are appended); `closed` once the chat ended and everything was appended
    synced_seq bigint not null default 0,
    closed bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (chat_id, ticket_id)
);
create index integ_chat_tickets_open on integ_chat_tickets(closed);
create index integ_chat_tickets_portal on integ_chat_tickets(chat_portal_id, created_at);

-- At most one ticket is ever made from a chat (automatically or by hand): the claim is
-- taken before Desk is called; `ticket_id` is filled once Desk answered.
create table integ_conversions (
    chat_id text primary key,
    chat_portal_id text not null,
    -- auto | convert
    origin text not null,
    ticket_id text,
    created_at bigint not null,
    updated_at bigint not null
);

-- The durable outbox (Q2): work for Desk, retried with backoff while Desk is away.
-- `idem_key` makes enqueueing idempotent ("auto-ticket:{chatId}", "sync:{chatId}:{ticketId}").
create table integ_outbox (
    id text primary key,
    chat_portal_id text not null,
    kind text not null,
    idem_key text not null unique,
    payload text not null,
    -- pending | done | failed
    state text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint not null default 0,
    -- set when the job was asked for again while it ran: it stays pending afterwards
    rearmed bigint not null default 0,
    last_error text,
    result text,
    created_at bigint not null,
    updated_at bigint not null
);
create index integ_outbox_due on integ_outbox(state, next_attempt_at);

-- How far the integration has read durable event streams (Chat's `chat_events`).
create table integ_cursors (
    name text primary key,
    position bigint not null,
    updated_at bigint not null
);
