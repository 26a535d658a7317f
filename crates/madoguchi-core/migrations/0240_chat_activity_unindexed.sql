-- Q2: a message moves its chat's last_seq and last_activity_at. With last_activity_at in
-- an index, every message also rewrote that index (on SQLite a page more in each commit;
-- on PostgreSQL no update could be HOT, so each message added an entry to all five
-- indexes of the chat). The idle sweep, its only reader, finds the open chats of a
-- portal by (portal_id, state) and filters them.
drop index chat_chats_state_activity;
