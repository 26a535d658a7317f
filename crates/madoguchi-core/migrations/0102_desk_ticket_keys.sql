-- Idempotent ticket creation (Q2): a client that may retry a create (the integration's
-- outbox, a request that died after Desk answered) sends an `Idempotency-Key`; the key
-- is recorded with the ticket in the same transaction, and a create with a known key
-- answers the ticket it made.
create table desk_ticket_keys (
    portal_id text not null references desk_portals(id) on delete cascade,
    idem_key text not null,
    ticket_id text not null references desk_tickets(id) on delete cascade,
    created_at bigint not null,
    primary key (portal_id, idem_key)
);
