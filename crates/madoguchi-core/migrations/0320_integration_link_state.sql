-- The chat–ticket link lives in the integration's tables only. Chat kept copies
-- (`chat_desk_tickets`, `chat_chats.auto_ticket_*`) written in separate statements,
-- so a crash between them could leave a ticket that nothing linked to. Chat now asks
-- the integration for `deskTicketIds` and `autoTicket` when a chat is read. This
-- migration hands the state over and drops Chat's copies.

-- What became of a chat's automatic ticket (I7, I18): none | pending | created | skipped;
-- `reason` is a catalog key.
create table integ_auto_tickets (
    chat_id text primary key,
    chat_portal_id text not null,
    status text not null,
    reason text,
    created_at bigint not null,
    updated_at bigint not null
);

insert into integ_auto_tickets (chat_id, chat_portal_id, status, reason, created_at, updated_at)
select id, portal_id, auto_ticket_status, auto_ticket_reason, updated_at, updated_at
from chat_chats where auto_ticket_status <> 'none';

-- A link Chat recorded but the integration did not (none is expected: the integration
-- wrote its own first).
insert into integ_chat_tickets
    (chat_id, ticket_id, chat_portal_id, desk_portal_name, origin, synced_seq, closed, created_at, updated_at)
select d.chat_id, d.ticket_id, c.portal_id, p.desk_portal_name, 'associate', 0, 0, d.created_at, d.created_at
from chat_desk_tickets d
join chat_chats c on c.id = d.chat_id
join integ_portals p on p.chat_portal_id = c.portal_id
where p.desk_portal_name is not null
on conflict (chat_id, ticket_id) do nothing;

drop table chat_desk_tickets;
alter table chat_chats drop column auto_ticket_status;
alter table chat_chats drop column auto_ticket_reason;
