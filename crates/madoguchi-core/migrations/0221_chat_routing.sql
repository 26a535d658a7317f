-- O3: how a portal offers new chats (broadcast: to every operator who may take them;
-- round_robin / least_busy: to one operator at a time) and the cap of concurrent chats
-- per operator (null: no cap).
alter table chat_portals add column routing text not null default 'broadcast';
alter table chat_portals add column max_chats_per_operator bigint;
-- The operator a waiting chat is offered to (one-at-a-time routing); null: not offered
-- to anyone yet (everyone at the cap) or broadcast.
alter table chat_chats add column offered_to text;
-- The portal's round-robin turn: each offer gives its operator the next number.
alter table chat_operators add column last_offered bigint not null default 0;
