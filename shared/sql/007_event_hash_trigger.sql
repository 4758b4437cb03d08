DROP TRIGGER IF EXISTS sedulur_events_chain ON eventstore.sedulur_events;
CREATE TRIGGER sedulur_events_chain AFTER INSERT ON eventstore.sedulur_events
    FOR EACH ROW EXECUTE FUNCTION audit.chain_event_hash();
