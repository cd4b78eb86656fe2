-- The text full-text search indexes (migration 0004's transcripts.search_vector), cut into the
-- tokens SQLite's unicode61 tokenizer makes: diacritics taken off (NFD, combining marks
-- removed), and anything but a letter or digit a separator, so "cafe" finds "Café" and
-- "example" finds "john.doe@example.com" on both backends. IMMUTABLE, as a generated column
-- requires: normalize() needs a UTF8 database and [[:alnum:]] follows the database's LC_CTYPE,
-- both fixed when the database is created.
CREATE FUNCTION callbridge_search_text(input text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN regexp_replace(
    regexp_replace(normalize(input, NFD),
      '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g'),
    '[^[:alnum:]]+', ' ', 'g');
