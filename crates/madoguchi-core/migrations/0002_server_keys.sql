-- Secrets the server derives values from (for example visitor tokens, so that an
-- idempotent retry can answer the same token without storing it). One row per purpose,
-- created on first use and shared by every node of the database.
create table server_keys (
    name text primary key,
    value text not null,
    created_at bigint not null
);
