-- Tokens may have the forwarder role (may only post events).
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('reader', 'responder', 'admin', 'forwarder'));
