-- SPEC V2: business hours of a portal (one row; none: always open). `weekly` is JSON
-- {"mon":[["09:00","18:00"]],…}, `closed_dates` a JSON list of "YYYY-MM-DD" dates, both
-- in `time_zone` (an IANA name).
create table chat_hours (
    portal_id text primary key references chat_portals(id) on delete cascade,
    time_zone text not null,
    weekly text not null,
    closed_dates text not null,
    updated_at bigint not null
);

-- SPEC V2: a chat that came from the widget's offline form (its question is the message).
-- The client's id makes the form idempotent per portal.
create table chat_offline_messages (
    chat_id text primary key references chat_chats(id) on delete cascade,
    portal_id text not null references chat_portals(id) on delete cascade,
    client_message_id text not null,
    created_at bigint not null
);
create unique index chat_offline_messages_client on chat_offline_messages(portal_id, client_message_id);

-- SPEC V5: the visitor's rating of an ended chat (once).
create table chat_ratings (
    chat_id text primary key references chat_chats(id) on delete cascade,
    rating text not null,
    comment text,
    created_at bigint not null
);

-- SPEC V4: the pages a visitor saw during a chat, in order of `at` (then `id`).
create table chat_pages (
    id text primary key,
    chat_id text not null references chat_chats(id) on delete cascade,
    url text not null,
    title text not null,
    referrer text,
    at bigint not null
);
create index chat_pages_chat on chat_pages(chat_id, at);

-- SPEC V4: the widget's browser id of a chat ("the same visitor": same browser).
create table chat_browsers (
    chat_id text primary key references chat_chats(id) on delete cascade,
    portal_id text not null references chat_portals(id) on delete cascade,
    browser_id text not null,
    created_at bigint not null
);
create index chat_browsers_portal on chat_browsers(portal_id, browser_id);
