-- Every read of personal data (allowed or denied): who, which complaint / subject, when,
-- through which endpoint. Append-only by convention; auditors query it over HTTP.
CREATE TABLE IF NOT EXISTS auth.access_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    user_id        text NOT NULL,
    role           text NOT NULL,
    action         text NOT NULL,
    complaint_id   uuid,
    subject        text,
    endpoint       text NOT NULL,
    allowed        boolean NOT NULL,
    correlation_id text
);
CREATE INDEX IF NOT EXISTS access_log_complaint ON auth.access_log (complaint_id, at);
CREATE INDEX IF NOT EXISTS access_log_user ON auth.access_log (user_id, at);
