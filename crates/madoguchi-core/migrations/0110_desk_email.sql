-- Email channel of the Desk (SPEC E1–E8): mailboxes with their import cursor and fetch
-- lease, the Message-IDs each portal sent or received, the mail fields of threads,
-- attachments, and the durable outbox of outgoing mail.

create table desk_mailboxes (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    address text not null,
    address_lower text not null,
    display_name text not null,
    department_id text references desk_departments(id),
    acknowledge bigint not null default 0,
    imap_host text not null,
    imap_port bigint not null,
    imap_security text not null,
    imap_username text not null,
    imap_password text not null,
    imap_folder text not null,
    smtp_host text not null,
    smtp_port bigint not null,
    smtp_security text not null,
    smtp_username text,
    smtp_password text,
    -- the import cursor (E3): the folder's UIDVALIDITY and the last UID committed
    uid_validity bigint,
    last_uid bigint not null default 0,
    -- what the fetcher saw last: pending | ok | error
    state text not null default 'pending',
    last_error text,
    last_fetch_at bigint,
    -- the fetch lease (E8): the node fetching this mailbox, until when
    lease_owner text,
    lease_until bigint not null default 0,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index desk_mailboxes_address on desk_mailboxes(portal_id, address_lower);
create index desk_mailboxes_portal on desk_mailboxes(portal_id, created_at);

-- Every Message-ID the portal received or sent, with its ticket (threading, dedup E3).
create table desk_mail_message_ids (
    portal_id text not null references desk_portals(id) on delete cascade,
    message_id text not null,
    ticket_id text not null references desk_tickets(id) on delete cascade,
    thread_id text,
    direction text not null,
    created_at bigint not null,
    primary key (portal_id, message_id)
);
create index desk_mail_message_ids_thread on desk_mail_message_ids(thread_id);

-- The mail fields of a thread of kind `email` (in) or a mailed `reply` (out).
alter table desk_threads add column direction text;
alter table desk_threads add column mail_from text;
alter table desk_threads add column mail_to text;
alter table desk_threads add column mail_subject text;
alter table desk_threads add column message_id text;
alter table desk_threads add column mailbox_id text;
alter table desk_threads add column quoted text;
alter table desk_threads add column delivery_state text;
alter table desk_threads add column delivery_error text;
alter table desk_threads add column delivery_attempts bigint;

-- Attachments of a mail, stored with its thread (base64: every column is text or bigint).
create table desk_thread_attachments (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    ticket_id text not null references desk_tickets(id) on delete cascade,
    thread_id text not null references desk_threads(id) on delete cascade,
    name text not null,
    content_type text not null,
    size bigint not null,
    data_base64 text not null,
    created_at bigint not null
);
create index desk_thread_attachments_thread on desk_thread_attachments(thread_id);

-- Outgoing mail (E4, E5): one row per reply or acknowledgement (idem_key), sent by a
-- worker that claims due rows, retries with backoff and records the outcome.
create table desk_mail_outbox (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    mailbox_id text not null,
    idem_key text not null unique,
    thread_id text,
    -- the envelope and the whole message as sent, built once: a retry sends the same bytes
    envelope_from text not null,
    envelope_to text not null,
    message text not null,
    state text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint not null default 0,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index desk_mail_outbox_due on desk_mail_outbox(state, next_attempt_at);
