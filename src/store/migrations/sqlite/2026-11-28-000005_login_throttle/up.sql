-- Password checks counted per email (known or not, so a lockout reveals
-- nothing about which emails exist), shared by every replica.
CREATE TABLE login_throttle (
    email TEXT PRIMARY KEY,
    failures BIGINT NOT NULL CHECK (failures >= 0),
    window_started_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
