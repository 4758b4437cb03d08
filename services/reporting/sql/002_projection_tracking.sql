-- Per projection and stream: the last complaint version applied (exactly-once effect).
CREATE TABLE IF NOT EXISTS reporting.projection_tracking (
    projection   text   NOT NULL,
    complaint_id uuid   NOT NULL,
    version      bigint NOT NULL,
    PRIMARY KEY (projection, complaint_id)
);
