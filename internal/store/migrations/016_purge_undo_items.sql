-- Undo of a purge, per archived message: an undo republishes each message
-- with a deduplication id of its own, so that sending it again never
-- delivers it twice while QStash still remembers the id (10 minutes).
--
-- undo_attempted_at: when the first attempt whose outcome is unproven
--   began (set before the publish, cleared when QStash refused it for
--   sure). A message left with it set may have reached QStash: it is sent
--   again with the same id only within the deduplication window.
-- undo_error: why QStash refused the message's last attempt ('' if none);
--   a later undo retries it.
-- undo_message_id: the id QStash gave the republished message.
ALTER TABLE ops.dlq_purge_items
    ADD COLUMN undo_attempted_at  timestamptz,
    ADD COLUMN undo_attempts      integer NOT NULL DEFAULT 0,
    ADD COLUMN undo_error         text NOT NULL DEFAULT '',
    ADD COLUMN undo_message_id    text NOT NULL DEFAULT '',
    ADD COLUMN republished_at     timestamptz;

-- The API calls of the purge's undos, apart from those of its deletion.
ALTER TABLE ops.dlq_purges
    ADD COLUMN undo_api_calls integer NOT NULL DEFAULT 0;
