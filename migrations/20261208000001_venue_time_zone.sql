-- Times on pages are shown in the venue's zone (an IANA name such as
-- "Europe/Paris"; checked against the tz database by the application).
ALTER TABLE venues ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
