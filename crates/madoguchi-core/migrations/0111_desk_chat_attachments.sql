-- SPEC V3: files of a chat copied onto its ticket's chat thread. `source_key` is the
-- chat attachment's id (a retried copy finds the row it made), `chat_seq` the message
-- it was sent with.
alter table desk_thread_attachments add column source_key text;
alter table desk_thread_attachments add column chat_seq bigint;
create unique index desk_thread_attachments_source on desk_thread_attachments(thread_id, source_key);
