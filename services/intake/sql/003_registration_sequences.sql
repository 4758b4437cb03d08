-- Next registration-number sequence per kabupaten/kota and day.
CREATE TABLE IF NOT EXISTS intake.registration_sequences (
    kabupaten  char(4) NOT NULL,
    day        date    NOT NULL,
    last_value integer NOT NULL,
    PRIMARY KEY (kabupaten, day)
);
