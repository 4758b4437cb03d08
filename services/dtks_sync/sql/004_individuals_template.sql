-- The shape of every snapshot table dtks.individuals_<snapshot>, created LIKE this one.
-- This table itself stays empty; the view reads it until the first import.
--
-- Fields stay in the text form they were validated in. Every kept row passed the checks of
-- docs/dtks-import-format.md (16-digit NIK/KK, ISO birth date, desil 1..10, flags 0/1, ...),
-- and dtks.individuals_current presents them typed (date, smallint, boolean). Typing them
-- in the table would need a second full copy of every row after the COPY: at registry
-- scale (10M rows) that is the single biggest cost of an import, for no gain in lookups.
-- NIK, KK and wilayah use the "C" collation: byte order, the cheapest to sort and index.
CREATE TABLE dtks.individuals_template (
    source_line bigint NOT NULL,                     -- line in the imported file
    nik         text COLLATE "C" NOT NULL,
    kk          text COLLATE "C" NOT NULL,
    name        text NOT NULL,
    birth_date  text NOT NULL,                       -- YYYY-MM-DD
    sex         text NOT NULL,                       -- L | P
    wilayah     text COLLATE "C" NOT NULL,           -- 10-digit desa/kelurahan code
    desil       text NOT NULL,                       -- 1..10
    pkh         text NOT NULL,                       -- program flags: 0 | 1
    bpnt        text NOT NULL,
    pbi_jk      text NOT NULL,
    kip         text NOT NULL,
    pip         text NOT NULL
);
