-- hash = sha256(prev_hash || uuid || int8 version || int4 len(topic) || topic || state);
-- prev_hash is empty for the first event of a stream. The length prefix keeps the
-- topic/state boundary unambiguous. shared/audit/chain.py computes the same in Python.
CREATE OR REPLACE FUNCTION audit.chain_event_hash() RETURNS trigger
LANGUAGE plpgsql AS $BODY$
DECLARE
    prev bytea;
    topic_bytes bytea := convert_to(NEW.topic, 'UTF8');
BEGIN
    IF NEW.originator_version > 1 THEN
        SELECT h.hash INTO prev FROM audit.event_hashes h
         WHERE h.originator_id = NEW.originator_id
           AND h.originator_version = NEW.originator_version - 1;
    END IF;
    INSERT INTO audit.event_hashes (originator_id, originator_version, notification_id, prev_hash, hash)
    VALUES (NEW.originator_id, NEW.originator_version, NEW.notification_id, prev,
            sha256(coalesce(prev, ''::bytea) || uuid_send(NEW.originator_id)
                   || int8send(NEW.originator_version::bigint)
                   || int4send(octet_length(topic_bytes)) || topic_bytes || NEW.state));
    RETURN NULL;
END;
$BODY$;
