-- A transcript's system lines keep their event (kind and argument), so Desk shows
-- them in the reader's language (SPEC V6: an English visitor's chat reads in English).
alter table desk_thread_messages add column system_kind text;
alter table desk_thread_messages add column system_arg text;
