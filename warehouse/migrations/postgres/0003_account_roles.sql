-- Three roles: viewer (reads everything), operator (also acts on alerts and security
-- events), admin (also manages accounts, API keys, rules and settings).
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check CHECK (role IN ('viewer', 'operator', 'admin'));
