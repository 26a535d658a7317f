-- O1: canned responses. `scope` is portal (shared, admins write), department (its
-- operators use it) or personal (`owner_id` only). `scope_key` is "portal",
-- "department:<id>" or "personal:<userId>": a shortcut is unique within one.
create table chat_canned_responses (
    id text primary key,
    portal_id text not null references chat_portals(id) on delete cascade,
    scope text not null,
    scope_key text not null,
    department_id text references chat_departments(id) on delete cascade,
    owner_id text references users(id) on delete cascade,
    shortcut text not null,
    shortcut_lower text not null,
    body text not null,
    created_by text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index chat_canned_responses_shortcut on chat_canned_responses(portal_id, scope_key, shortcut_lower);
