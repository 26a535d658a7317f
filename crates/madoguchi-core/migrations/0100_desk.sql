-- Desk (SPEC D1–D7): portals, members, departments, accounts, SLAs, contracts,
-- contacts, tickets with history and threads, the search index and service keys.

create table desk_portals (
    id text primary key,
    portal_name text not null unique,
    display_name text not null,
    -- the last ticket number handed out; the first ticket gets 101
    ticket_seq bigint not null default 100,
    -- JSON array of the portal's ticket classifications, in order
    classifications text not null,
    -- the service key (shown to admins) and its SHA-256 hash (compared on every call)
    service_key text,
    service_key_hash text,
    service_key_admin_id text references users(id),
    service_key_created_at bigint,
    created_by text not null references users(id),
    created_at bigint not null,
    updated_at bigint not null
);

create table desk_members (
    portal_id text not null references desk_portals(id) on delete cascade,
    user_id text not null references users(id) on delete cascade,
    role text not null,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (portal_id, user_id)
);
create index desk_members_user on desk_members(user_id);

create table desk_departments (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    name text not null,
    name_lower text not null,
    is_default bigint not null default 0,
    created_at bigint not null
);
create unique index desk_departments_name on desk_departments(portal_id, name_lower);

create table desk_accounts (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    account_name text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index desk_accounts_portal on desk_accounts(portal_id, created_at);

create table desk_slas (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    name text not null,
    created_at bigint not null
);
create index desk_slas_portal on desk_slas(portal_id, created_at);

create table desk_contracts (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    contract_name text not null,
    account_id text not null references desk_accounts(id),
    sla_id text not null references desk_slas(id),
    created_at bigint not null
);
create index desk_contracts_portal on desk_contracts(portal_id, created_at);
-- an account's active contract is its latest one
create index desk_contracts_account on desk_contracts(account_id, created_at);

create table desk_contacts (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    first_name text,
    last_name text not null,
    email text,
    email_lower text,
    phone text,
    account_id text references desk_accounts(id),
    owner_id text references users(id),
    created_at bigint not null,
    updated_at bigint not null
);
create unique index desk_contacts_email on desk_contacts(portal_id, email_lower);
create index desk_contacts_portal on desk_contacts(portal_id, created_at);
create index desk_contacts_account on desk_contacts(account_id);

create table desk_tickets (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    ticket_number bigint not null,
    subject text not null,
    description text not null,
    status text not null,
    priority text not null,
    classification text,
    channel text not null,
    department_id text not null references desk_departments(id),
    contact_id text references desk_contacts(id),
    assignee_id text references users(id),
    -- normalised text the search verifies candidates against (see search.rs)
    search_subject text not null,
    search_contact text not null,
    created_by text,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index desk_tickets_number on desk_tickets(portal_id, ticket_number);
create index desk_tickets_status on desk_tickets(portal_id, status, ticket_number);
create index desk_tickets_department on desk_tickets(portal_id, department_id, ticket_number);
create index desk_tickets_contact on desk_tickets(portal_id, contact_id, ticket_number);
create index desk_tickets_assignee on desk_tickets(portal_id, assignee_id, ticket_number);

-- The search index: one row per (gram, ticket), written in the ticket's transaction.
create table desk_ticket_grams (
    portal_id text not null,
    gram text not null,
    ticket_number bigint not null,
    primary key (portal_id, gram, ticket_number)
) without rowid;

create table desk_ticket_history (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    ticket_id text not null references desk_tickets(id) on delete cascade,
    field text not null,
    old_value text,
    new_value text,
    actor_id text,
    actor_name text,
    created_at bigint not null
);
create index desk_ticket_history_ticket on desk_ticket_history(ticket_id, created_at);

create table desk_threads (
    id text primary key,
    portal_id text not null references desk_portals(id) on delete cascade,
    ticket_id text not null references desk_tickets(id) on delete cascade,
    kind text not null,
    content text,
    author_id text,
    author_name text,
    chat_id text,
    created_at bigint not null,
    updated_at bigint not null
);
create index desk_threads_ticket on desk_threads(ticket_id, created_at);
-- one chat thread per (ticket, chat); null chat ids (replies, notes) never collide
create unique index desk_threads_chat on desk_threads(ticket_id, chat_id);
create index desk_threads_portal_chat on desk_threads(portal_id, chat_id);

create table desk_thread_messages (
    thread_id text not null references desk_threads(id) on delete cascade,
    seq bigint not null,
    sender text not null,
    sender_name text not null,
    text text not null,
    created_at bigint not null,
    primary key (thread_id, seq)
);
