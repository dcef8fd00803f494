-- Bulk retry and two-person approval.
--
-- A bulk action on frozen dead letters is a purge (delete them) or a
-- retry (send them again); both share the preview, the frozen ids, the
-- confirmation, the chunked run and its resumption.
--
-- A confirmation that needs a second operator leaves the action
-- awaiting_approval until approval_expires_at; another operator approves
-- it (running) or anyone rejects it (rejected); unapproved it becomes
-- expired. requested_by_id is the operator who confirmed it, whom the
-- approval refuses.
--
-- overrides: the publish headers a retry sends with every chunk (for
-- example Upstash-Retries), frozen at confirmation so that the approver
-- sees them.
--
-- archive_pruned_at: when the full copies of the messages were dropped
-- after the archive's retention (an undo is then impossible).
ALTER TABLE ops.dlq_purges
    ADD COLUMN kind                text NOT NULL DEFAULT 'purge' CHECK (kind IN ('purge', 'retry')),
    ADD COLUMN overrides           jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN retried             integer NOT NULL DEFAULT 0,
    ADD COLUMN requested_by_id     bigint,
    ADD COLUMN approval_expires_at timestamptz,
    ADD COLUMN approved_by         text,
    ADD COLUMN approved_at         timestamptz,
    ADD COLUMN rejected_by         text,
    ADD COLUMN archive_pruned_at   timestamptz;

ALTER TABLE ops.dlq_purges DROP CONSTRAINT dlq_purges_state_check;
ALTER TABLE ops.dlq_purges ADD CONSTRAINT dlq_purges_state_check CHECK (state IN
    ('previewed', 'awaiting_approval', 'running', 'paused', 'done', 'discarded', 'undone', 'rejected', 'expired'));

-- A retry's items: retried (sent again, new_message_id when known), gone
-- (no longer in the dead-letter queue), failed (refused, error says why).
ALTER TABLE ops.dlq_purge_items DROP CONSTRAINT dlq_purge_items_state_check;
ALTER TABLE ops.dlq_purge_items ADD CONSTRAINT dlq_purge_items_state_check CHECK (state IN
    ('frozen', 'sent', 'done', 'mixed', 'republished', 'retried', 'gone', 'failed'));
ALTER TABLE ops.dlq_purge_items
    ADD COLUMN new_message_id text NOT NULL DEFAULT '',
    ADD COLUMN error          text NOT NULL DEFAULT '';

-- Requests waiting for a second operator, found on every queues page.
CREATE INDEX dlq_purges_awaiting_idx ON ops.dlq_purges (approval_expires_at) WHERE state = 'awaiting_approval';
