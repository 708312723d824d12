// Package postgres is the PostgreSQL sink of iothub's bridges: rule
// outputs written as rows through a pgx connection pool.
//
// # Statement
//
// The INSERT statement names values as ${name} ("INSERT INTO t (device,
// ts, payload) VALUES (${clientid}, ${timestamp}, ${payload})").
// ParseStatement turns it, once, into SQL with $1, $2, … and the list of
// names; each record carries the rendered values, in that order, as its
// headers, and they are bound as parameters in text form (PostgreSQL
// converts them with the column's input function). A value is never
// spliced into the SQL: a payload "'); DROP TABLE x; --" is stored as it
// is. A placeholder inside a quoted literal or identifier, and a $n
// parameter of the user's own, are refused.
//
// # Ready-made table
//
// Without a statement the sink inserts into a time-series table (device
// text, topic text, ts timestamptz, payload jsonb) named by the options,
// created when missing with Table.Create, and turned into a hypertable
// when the timescaledb extension is installed in the database. The
// payload is stored as JSON when it parses as JSON, else as a JSON string.
//
// # Batches and errors
//
// A batch is one transaction, sent as one pgx.Batch (one round trip). A
// connection error, a lost server or a timeout is retryable (the bridge
// runner retries, then spills to its disk queue); an error of SQLSTATE
// class 22 (data), 23 (constraint) or 42 (syntax, undefined table or
// column) is permanent. For classes 22 and 23 the batch is retried one
// record at a time so that only the refused records are lost (logged).
package postgres
