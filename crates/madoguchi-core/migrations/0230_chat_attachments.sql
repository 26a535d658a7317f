-- SPEC V3: files sent in a chat. The bytes live in the database (base64: every column
-- is text or bigint), so every node of a PostgreSQL installation serves them and
-- backup, restore and migrate carry them with the rest.
create table chat_attachments (
    id text primary key,
    portal_id text not null references chat_portals(id) on delete cascade,
    chat_id text not null references chat_chats(id) on delete cascade,
    name text not null,
    content_type text not null,
    size bigint not null,
    data_base64 text not null,
    created_at bigint not null
);
create index chat_attachments_chat on chat_attachments(chat_id);

-- The message a file was sent with (its text is the file's name).
alter table chat_messages add column attachment_id text;

-- The largest file a portal takes, in bytes (default 10 MB).
alter table chat_portals add column max_attachment_bytes bigint not null default 10485760;
