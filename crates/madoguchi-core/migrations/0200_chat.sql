-- Chat context (SPEC C1–C6). Every table is prefixed chat_; times are bigint ms.

-- C1: portals and plans. `plan` is the chosen plan; while `trial_ends_at` is set and
-- in the future the portal runs Enterprise features, after it Free unless upgraded.
create table chat_portals (
    id text primary key,
    name text not null unique,
    display_name text not null,
    plan text not null,
    trial_ends_at bigint,
    missed_after_ms bigint not null,
    idle_after_ms bigint not null,
    created_by text not null references users(id),
    created_at bigint not null,
    updated_at bigint not null
);

-- C2: departments (unique name per portal, case-insensitive).
create table chat_departments (
    id text primary key,
    portal_id text not null references chat_portals(id) on delete cascade,
    name text not null,
    name_lower text not null,
    created_at bigint not null
);
create unique index chat_departments_portal_name on chat_departments(portal_id, name_lower);

-- C2: operators with a role and an availability status.
create table chat_operators (
    portal_id text not null references chat_portals(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    role text not null,
    status text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (portal_id, user_id)
);
create index chat_operators_user on chat_operators(user_id);

create table chat_operator_departments (
    portal_id text not null,
    user_id text not null,
    department_id text not null references chat_departments(id) on delete cascade,
    primary key (portal_id, user_id, department_id),
    foreign key (portal_id, user_id) references chat_operators(portal_id, user_id) on delete cascade
);

-- C6: visitors (one per widget chat).
create table chat_visitors (
    id text primary key,
    portal_id text not null references chat_portals(id) on delete cascade,
    name text,
    email text,
    email_lower text,
    phone text,
    created_at bigint not null,
    updated_at bigint not null
);
create index chat_visitors_portal_email on chat_visitors(portal_id, email_lower);

-- C3/C5: chats. `last_seq` is the per-chat message counter, incremented in the write
-- transaction that inserts the message (gap-free seq from 1). `client_message_id` is
-- the widget's id of the first question and makes chat creation idempotent.
-- `auto_ticket_*` and chat_desk_tickets are written by the integration (I7, I10, I11).
create table chat_chats (
    id text primary key,
    portal_id text not null references chat_portals(id) on delete cascade,
    department_id text references chat_departments(id) on delete set null,
    visitor_id text not null references chat_visitors(id),
    state text not null,
    outcome text,
    operator_id text references users(id),
    question text not null,
    client_message_id text not null,
    last_seq bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    accepted_at bigint,
    missed_at bigint,
    ended_at bigint,
    last_activity_at bigint not null,
    auto_ticket_status text not null,
    auto_ticket_reason text,
    client_address text
);
create unique index chat_chats_portal_client on chat_chats(portal_id, client_message_id);
create index chat_chats_portal_state on chat_chats(portal_id, state, created_at);
create index chat_chats_state_activity on chat_chats(state, last_activity_at);
create index chat_chats_visitor on chat_chats(visitor_id);

-- Visitor tokens, stored as SHA-256 hashes only. A chat may have several (an
-- idempotent retry of the creation issues a fresh one, as the first is not kept).
create table chat_visitor_tokens (
    token_hash text primary key,
    chat_id text not null references chat_chats(id) on delete cascade,
    created_at bigint not null
);
create index chat_visitor_tokens_chat on chat_visitor_tokens(chat_id);

-- Messages. `client_key` is "<sender key>:<clientMessageId>" and makes resends
-- idempotent; `system_kind`/`system_arg` let system lines render in each reader's language.
create table chat_messages (
    id text primary key,
    chat_id text not null references chat_chats(id) on delete cascade,
    seq bigint not null,
    sender text not null,
    sender_user_id text,
    sender_name text,
    body text not null,
    system_kind text,
    system_arg text,
    client_key text,
    created_at bigint not null
);
create unique index chat_messages_chat_seq on chat_messages(chat_id, seq);
create unique index chat_messages_chat_client on chat_messages(chat_id, client_key);

-- Desk tickets linked to a chat (written by the integration).
create table chat_desk_tickets (
    chat_id text not null references chat_chats(id) on delete cascade,
    ticket_id text not null,
    created_at bigint not null,
    primary key (chat_id, ticket_id)
);

-- Named counters (`update … set value = value + 1 … returning value` in the write
-- transaction): the row lock makes ids become visible in commit order.
create table chat_counters (
    name text primary key,
    value bigint not null
);
insert into chat_counters (name, value) values ('events', 0);

-- C5: every lifecycle transition, in order. `id` increases monotonically and is
-- visible in commit order, so a consumer (the integration) can read durably from
-- "after the last id I handled".
create table chat_events (
    id bigint primary key,
    portal_id text not null,
    chat_id text not null,
    kind text not null,
    actor_id text,
    created_at bigint not null
);
create index chat_events_chat on chat_events(chat_id, id);
