-- A disabled account keeps its history (audit rows name it) but can neither log in
-- nor use its sessions or tokens. password_hash carries its own algorithm and
-- parameters (argon2id "$argon2id$v=19$m=...,t=...,p=...$..." or the older
-- "scrypt$n$r$p$salt$digest"), so raising the cost re-hashes at the next login.
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS disabled_at TIMESTAMPTZ;
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS password_changed_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE accounts ADD CONSTRAINT accounts_email_shape CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254);
