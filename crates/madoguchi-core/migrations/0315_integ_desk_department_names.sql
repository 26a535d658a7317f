-- The linked Desk portal's department names as last read, so the mapping menus name
-- them while the link is broken or Desk is away (instead of showing raw ids).
create table integ_desk_department_names (
    chat_portal_id text not null,
    desk_department_id text not null,
    name text not null,
    is_default bigint not null,
    updated_at bigint not null,
    primary key (chat_portal_id, desk_department_id)
);
