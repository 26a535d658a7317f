-- Identity: one account per email, shared by Desk and Chat.
create table users (
    id text primary key,
    email text not null,
    email_lower text not null unique,
    name text not null,
    password_hash text not null,
    lang text,
    created_at bigint not null,
    updated_at bigint not null
);

create table api_tokens (
    id text primary key,
    user_id text not null references users(id) on delete cascade,
    token_hash text not null unique,
    label text not null,
    created_at bigint not null,
    last_used_at bigint,
    revoked_at bigint
);
create index api_tokens_user on api_tokens(user_id);

create table sessions (
    id_hash text primary key,
    user_id text not null references users(id) on delete cascade,
    csrf_token text not null,
    created_at bigint not null,
    expires_at bigint not null
);
create index sessions_user on sessions(user_id);
