-- Users, roles and areas, and the access log of personal-data reads (UU PDP 27/2022).
CREATE SCHEMA IF NOT EXISTS auth;
