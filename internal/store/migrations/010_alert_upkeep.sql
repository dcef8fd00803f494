-- A notification of an alert silenced before it was delivered is skipped,
-- not sent late: silencing means "stop telling us".
ALTER TABLE ops.alert_notifications DROP CONSTRAINT alert_notifications_state_check;
ALTER TABLE ops.alert_notifications ADD CONSTRAINT alert_notifications_state_check
    CHECK (state IN ('pending', 'sent', 'failed', 'skipped'));
