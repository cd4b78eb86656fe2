/**
 * The stored search vector PostgresTranscriptSearch's `vector: "column"` reads: a proposed
 * migration, not applied by migratePostgres yet (bench/storage-postgres.ts and the search tests
 * apply it to databases of their own). Why a column rather than the expression index of
 * migration 0000:
 *
 * - speed: a plan that walks the seq index (the newest matches of a common word) tests each row
 *   against its stored vector (about a µs) instead of parsing its text again with to_tsvector()
 *   (tens of µs), which made relevance over a common word take hundreds of ms at 1,000,000 rows;
 * - the same tokens as SQLite's unicode61 tokenizer: callbridge_search_text() takes diacritics
 *   off (NFD, combining marks removed) and makes anything but a letter or digit a space, so
 *   "cafe" finds "Café" and "example" finds "john@example.com", as on SQLite.
 *
 * normalize() needs a UTF8 database; [[:alnum:]] follows the database's LC_CTYPE (C.UTF-8 or a
 * language's: letters and digits of every script; "C": ASCII only).
 */
export const SEARCH_VECTOR_MIGRATION = [
  `CREATE FUNCTION callbridge_search_text(input text) RETURNS text
     LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
     RETURN regexp_replace(
       regexp_replace(normalize(input, NFD),
         '[\\u0300-\\u036f\\u1ab0-\\u1aff\\u1dc0-\\u1dff\\u20d0-\\u20ff\\ufe20-\\ufe2f]', '', 'g'),
       '[^[:alnum:]]+', ' ', 'g')`,
  `ALTER TABLE transcripts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS
     (to_tsvector('simple', callbridge_search_text(coalesce(heard_text, text)))) STORED`,
  "DROP INDEX transcripts_search_idx",
  "CREATE INDEX transcripts_search_idx ON transcripts USING gin (search_vector)",
];
