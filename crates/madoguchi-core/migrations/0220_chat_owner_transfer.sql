-- O4: supervisors and admins who joined a chat another operator owns (the owner is
-- chat_chats.operator_id); they may write in it like the owner.
create table chat_participants (
    chat_id text not null references chat_chats(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    joined_at bigint not null,
    primary key (chat_id, user_id)
);

-- O2: every hand-over of a chat, oldest first: who gave it to whom (an operator and/or
-- a department), when, with the note for the receiver.
create table chat_transfers (
    id text primary key,
    chat_id text not null references chat_chats(id) on delete cascade,
    from_user_id text,
    to_user_id text,
    to_department_id text,
    note text,
    created_at bigint not null
);
create index chat_transfers_chat on chat_transfers(chat_id, created_at);
