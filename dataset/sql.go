package dataset

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// SQLConfig configures a SQL source. The zero value is not usable: Query is
// required.
type SQLConfig struct {
	ReadConfig
	// Query is the SELECT statement. It comes from the server's dataset
	// configuration: this package does not guard against SQL injection, so
	// never pass client text here unless the server allows it for the dataset.
	Query string
	// Args are the query's parameters.
	Args []any
	// OrderBy declares a stable total order (for example "id", or
	// "created_at, id"). When set, the query is read as
	//   SELECT * FROM (<Query>) AS streamd_q ORDER BY <OrderBy>
	// and the source can start at a row offset. Without it the query runs as
	// written and StartRow > 0 fails with ErrNotResumable.
	OrderBy string
	// Schema overrides the schema derived from the result's column types;
	// its column count must match the query's.
	Schema *Schema
	// CountRows runs SELECT count(*) over the query first so that the header
	// can announce TotalRows. It costs one extra pass in the database.
	CountRows bool
	// Dialect selects the OFFSET syntax: "sqlite" (LIMIT -1 OFFSET n),
	// "postgres" (OFFSET n) or "standard" (OFFSET n ROWS). Default: "sqlite"
	// for drivers whose type name mentions sqlite, else "postgres".
	Dialect string
}

// Validate checks the configuration.
func (c SQLConfig) Validate() error {
	if err := c.ReadConfig.Validate(); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(c.Query) == "":
		return configErrorf("empty SQL query")
	case c.StartRow > 0 && strings.TrimSpace(c.OrderBy) == "":
		return fmt.Errorf("%w: SQL query without a declared OrderBy cannot start at row %d", ErrNotResumable, c.StartRow)
	}
	switch c.Dialect {
	case "", "sqlite", "postgres", "standard":
	default:
		return configErrorf("unknown SQL dialect %q", c.Dialect)
	}
	return nil
}

// SQLSource streams the result of a query from a database/sql cursor,
// building batches as rows arrive.
type SQLSource struct {
	rows   *sql.Rows
	schema *Schema
	cfg    SQLConfig
	b      *recordBuilder
	vals   []any
	ptrs   []any
	total  int64
	row    int64
	done   bool
	sourceState
}

// NewSQLSource runs the query and returns a source over its rows. ctx
// bounds the whole query: cancelling it aborts the cursor; Next's own
// context is checked between rows. Works with any database/sql driver;
// tested with modernc.org/sqlite ("sqlite") and pgx ("pgx").
func NewSQLSource(ctx context.Context, db *sql.DB, cfg SQLConfig) (*SQLSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ReadConfig = cfg.ReadConfig.withDefaults()
	if cfg.Dialect == "" {
		cfg.Dialect = "postgres"
		if strings.Contains(strings.ToLower(reflect.TypeOf(db.Driver()).String()), "sqlite") {
			cfg.Dialect = "sqlite"
		}
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.Query), "; \t\n")
	query := base
	if cfg.OrderBy != "" {
		query = "SELECT * FROM (" + base + ") AS streamd_q ORDER BY " + cfg.OrderBy
	}
	if cfg.StartRow > 0 {
		n := strconv.FormatInt(cfg.StartRow, 10)
		switch cfg.Dialect {
		case "sqlite":
			query += " LIMIT -1 OFFSET " + n
		case "postgres":
			query += " OFFSET " + n
		default:
			query += " OFFSET " + n + " ROWS"
		}
	}
	s := &SQLSource{cfg: cfg, total: -1}
	if cfg.CountRows {
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+base+") AS streamd_c", cfg.Args...).Scan(&s.total); err != nil {
			return nil, fmt.Errorf("dataset: count rows: %w", err)
		}
		if cfg.StartRow > s.total {
			return nil, configErrorf("start row %d is past the end of the query result (%d rows)", cfg.StartRow, s.total)
		}
	}
	rows, err := db.QueryContext(ctx, query, cfg.Args...)
	if err != nil {
		return nil, fmt.Errorf("dataset: query: %w", err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		return nil, fmt.Errorf("dataset: column types: %w", err)
	}
	if cfg.Schema != nil {
		if cfg.Schema.NumColumns() != len(types) {
			rows.Close()
			return nil, mismatchErrorf("declared schema has %d columns, the query returns %d", cfg.Schema.NumColumns(), len(types))
		}
		s.schema = cfg.Schema
	} else {
		cols := make([]Column, len(types))
		for i, ct := range types {
			cols[i] = columnFromSQL(ct, cfg.Dialect)
		}
		if s.schema, err = NewSchema(cols...); err != nil {
			rows.Close()
			return nil, err
		}
	}
	s.rows = rows
	s.vals = make([]any, len(types))
	s.ptrs = make([]any, len(types))
	for i := range s.vals {
		s.ptrs[i] = &s.vals[i]
	}
	s.b = newRecordBuilder(cfg.Allocator, s.schema)
	return s, nil
}

// columnFromSQL maps a result column's database type to a dataset column.
// Unknown types become strings; NUMERIC/DECIMAL without a usable precision
// (or above 38 digits) become strings holding the exact decimal text.
func columnFromSQL(ct *sql.ColumnType, dialect string) Column {
	c := Column{Name: ct.Name(), Nullable: true, Type: TypeString}
	if nullable, ok := ct.Nullable(); ok {
		c.Nullable = nullable
	}
	t := strings.ToUpper(ct.DatabaseTypeName())
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(t, s) {
				return true
			}
		}
		return false
	}
	switch {
	case t == "BOOL" || t == "BOOLEAN":
		c.Type = TypeBool
	case t == "DATE":
		c.Type = TypeDate
	case has("TIMESTAMPTZ", "WITH TIME ZONE"):
		c.Type, c.Unit, c.Zone = TypeTimestamp, UnitMicro, "UTC"
	case has("TIMESTAMP", "DATETIME"):
		c.Type, c.Unit = TypeTimestamp, UnitMicro
		if dialect == "sqlite" {
			c.Zone = "UTC" // the SQLite driver returns instants with their offset
		}
	case has("NUMERIC", "DECIMAL"):
		if p, sc, ok := ct.DecimalSize(); ok && p >= 1 && p <= MaxDecimalPrecision && sc >= 0 && sc <= p {
			c.Type, c.Precision, c.Scale = TypeDecimal, int(p), int(sc)
		}
	case has("INTERVAL", "POINT"):
	case has("INT"):
		c.Type = TypeInt64
	case has("CHAR", "CLOB", "TEXT", "UUID", "JSON"):
	case has("BLOB", "BYTEA", "BINARY"):
		c.Type = TypeBinary
	case has("REAL", "FLOA", "DOUB"):
		c.Type = TypeFloat64
	case t == "" && ct.ScanType() != nil:
		switch ct.ScanType() {
		case reflect.TypeFor[int64](), reflect.TypeFor[sql.NullInt64]():
			c.Type = TypeInt64
		case reflect.TypeFor[float64](), reflect.TypeFor[sql.NullFloat64]():
			c.Type = TypeFloat64
		case reflect.TypeFor[bool](), reflect.TypeFor[sql.NullBool]():
			c.Type = TypeBool
		case reflect.TypeFor[[]byte]():
			c.Type = TypeBinary
		case reflect.TypeFor[time.Time](), reflect.TypeFor[sql.NullTime]():
			c.Type, c.Unit, c.Zone = TypeTimestamp, UnitMicro, "UTC"
		}
	}
	return c
}

// Schema implements Source.
func (s *SQLSource) Schema() *Schema { return s.schema }

// Info implements Source. TotalRows is known only with CountRows.
func (s *SQLSource) Info() SourceInfo {
	return SourceInfo{StartRow: s.cfg.StartRow, TotalRows: s.total, Resumable: s.cfg.OrderBy != ""}
}

// Next implements Source.
func (s *SQLSource) Next(ctx context.Context) (arrow.RecordBatch, error) {
	return s.nextBatch(func() (arrow.RecordBatch, error) { return s.next(ctx) })
}

func (s *SQLSource) next(ctx context.Context) (arrow.RecordBatch, error) {
	if s.done {
		return nil, io.EOF
	}
	for s.b.rows < s.cfg.BatchRows && s.b.bytes < s.cfg.BatchBytes {
		if s.b.rows%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if !s.rows.Next() {
			if err := s.rows.Err(); err != nil {
				return nil, fmt.Errorf("dataset: reading row %d: %w", s.cfg.StartRow+s.row+1, err)
			}
			s.done = true
			break
		}
		if err := s.rows.Scan(s.ptrs...); err != nil {
			return nil, &InputError{Format: "sql", Row: s.cfg.StartRow + s.row + 1, Offset: -1, Err: err}
		}
		s.row++
		for c, v := range s.vals {
			if err := s.b.appendGo(c, v); err != nil {
				return nil, &InputError{Format: "sql", Row: s.cfg.StartRow + s.row, Offset: -1, Column: s.schema.Column(c).Name, Err: err}
			}
		}
		s.b.endRow()
	}
	if s.done {
		s.rows.Close()
	}
	if s.b.rows == 0 {
		return nil, io.EOF
	}
	return s.b.newRecord(), nil
}

// Close implements Source: it closes the cursor.
func (s *SQLSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.b.release()
	return s.rows.Close()
}
