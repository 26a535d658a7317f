-- The contact list search (`q`) matches this normalised text with one `like`
-- (see madoguchi-desk contacts.rs `search_key`). It is written with every insert and
-- update of a contact. Rows from before this migration start null: the normalisation
-- is Rust code (width folding of kana), so the Desk fills them when the server starts,
-- before it serves, finding them through the partial index.
alter table desk_contacts add column search_key text;
create index desk_contacts_search_pending on desk_contacts(id) where search_key is null;
