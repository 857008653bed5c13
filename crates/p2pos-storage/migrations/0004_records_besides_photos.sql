-- The log without its photo records, in order: what `GET /v1/records?photos=false` reads at every
-- page load. Without it that query stepped over every photo record (100,000 rows of a large vault,
-- ~90 ms) to find the few others.
CREATE INDEX records_besides_photos ON records (seq) WHERE kind != 'photo';
