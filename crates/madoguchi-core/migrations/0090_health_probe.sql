-- The write probe of /healthz (Q6): one row, upserted at most every two seconds, so a
-- database that cannot take writes (read-only, full disk) reports not ready.
create table health_probe (
    id bigint primary key,
    checked_at bigint not null
);
