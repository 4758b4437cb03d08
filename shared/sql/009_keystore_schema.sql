-- Per-person data keys (crypto-shredding under UU PDP, docs/audit.md): outside the event
-- store and outside the hash chain, so destroying a key changes no stored event.
CREATE SCHEMA IF NOT EXISTS keystore;
