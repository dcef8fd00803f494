-- The platform's role has only the grants of contract 5 (INSERT and
-- UPDATE on ops.instance_heartbeats, SELECT on ops.kill_switch_state).
-- The trigger that copies each heartbeat into the history and the rollup
-- inbox ran with the caller's rights, so such a role could not write a
-- heartbeat at all. It now runs with its owner's rights, on a fixed
-- search path.
ALTER FUNCTION ops.heartbeat_to_history() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
