package dataset

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Catalog errors.
var (
	// ErrUnknownDataset marks a dataset name the catalog does not hold. The
	// export route reports it as stream.CodeNotFound.
	ErrUnknownDataset = errors.New("dataset: unknown dataset")

	// ErrQueryNotAllowed marks a client query (raw SQL) for a dataset whose
	// configuration does not allow one. The export route reports it as
	// stream.CodeUnauthorized.
	ErrQueryNotAllowed = errors.New("dataset: client queries are not allowed for this dataset")
)

// Dataset kinds, as DatasetInfo.Kind reports them.
const (
	KindFile = "file" // a file in a supported format
	KindSQL  = "sql"  // a query on a database/sql connection
	KindFunc = "func" // a source built by a Go function (Catalog.AddFunc)
)

// DefaultDemoRows is the size of the demo table streamd serve seeds.
const DefaultDemoRows = 1_000_000

// DatasetInfo describes a dataset of a Catalog.
type DatasetInfo struct {
	// Name is the name clients export the dataset by.
	Name string `json:"name"`
	// Kind is KindFile, KindSQL or KindFunc.
	Kind string `json:"kind"`
	// Format is the file format (files only).
	Format Format `json:"format,omitempty"`
	// Resumable says whether an export can start at a row offset: files
	// always, SQL datasets with an OrderBy, functions as declared.
	Resumable bool `json:"resumable"`
	// AllowQuery says whether clients may send their own SQL query.
	AllowQuery bool `json:"allowQuery,omitempty"`
}

// OpenRequest is what a client asks of a dataset when it opens it.
type OpenRequest struct {
	// ReadConfig holds the start row and batch sizes.
	ReadConfig
	// Query replaces the dataset's SQL query; only for SQL datasets that
	// allow it (DatasetSpec.AllowQuery).
	Query string
	// OrderBy declares the stable order of Query (making it resumable);
	// only together with Query.
	OrderBy string
}

// OpenFunc opens a dataset's source for one export. ctx is the export's
// context: it ends when the export does, so a source may bind its whole
// lifetime to it (as SQL sources do). A source that cannot start at
// req.StartRow > 0 fails with an error matching ErrNotResumable.
type OpenFunc func(ctx context.Context, req OpenRequest) (Source, error)

// DatasetSpec configures a file or SQL dataset (Catalog.Add). Exactly one of
// File and Query must be set. It is also the JSON form of a dataset in a
// catalog configuration file (LoadDatasetSpecs).
type DatasetSpec struct {
	// Name is the dataset name: 1–255 bytes of UTF-8 without control
	// characters, '/' or '\\'.
	Name string `json:"name"`

	// File is the path of a data file (files only).
	File string `json:"file,omitempty"`
	// Format is the file's format; empty means by its extension.
	Format Format `json:"format,omitempty"`

	// Driver is the database/sql driver name: "sqlite" (modernc.org/sqlite,
	// the default) or "pgx" (PostgreSQL). The program must register it
	// (a blank import of the driver package).
	Driver string `json:"driver,omitempty"`
	// DSN is the driver's data source name: a file path for SQLite (add
	// "?mode=ro" via a "file:" URI for read-only access), a URL such as
	// "postgres://user@host/db" for pgx.
	DSN string `json:"dsn,omitempty"`
	// Query is the SELECT statement exported.
	Query string `json:"query,omitempty"`
	// OrderBy declares a stable total order of Query's rows (e.g. "id"),
	// which makes exports resumable at a row offset.
	OrderBy string `json:"orderBy,omitempty"`
	// CountRows counts the rows before each export, so the header announces
	// total_rows (one extra pass in the database; ~30 ms per million SQLite rows).
	CountRows bool `json:"countRows,omitempty"`
	// Schema declares the columns of Query (or of a CSV or JSON Lines file)
	// instead of deriving them from the database's column types (or
	// inferring them from the file's first rows). In JSON, the schema form
	// of docs/DATASET.md §3: {"columns": [...]}.
	Schema *Schema `json:"schema,omitempty"`
	// AllowQuery lets clients send their own SQL, which then runs with the
	// connection's privileges: give such a dataset a read-only DSN. The
	// Schema does not apply to client queries.
	AllowQuery bool `json:"allowQuery,omitempty"`
	// DB, when set, is used instead of Driver and DSN (the catalog does not
	// close it).
	DB *sql.DB `json:"-"`
}

// CatalogConfig configures a Catalog. The zero value means defaults.
type CatalogConfig struct {
	// Dir is a directory whose files are datasets named by their file name
	// ("sales.csv"; also "sales" when only one supported file has that stem),
	// looked up when a client asks, so files dropped in later are found.
	// Empty: none. The directory is created if missing.
	Dir string
	// Layouts are the layouts the export route offers, in the server's
	// order of preference. Default Layouts().
	Layouts []Layout
	// MaxBatchRows caps the batch size a client may ask for. Default
	// MaxBatchRows.
	MaxBatchRows int
	// Logger receives the catalog's logs (demo seeding, exports at debug
	// level). Default slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c CatalogConfig) Validate() error {
	for _, l := range c.Layouts {
		if !l.valid() {
			return configErrorf("%v: %q", ErrUnknownLayout, l)
		}
	}
	if c.MaxBatchRows < 0 || c.MaxBatchRows > MaxBatchRows {
		return configErrorf("MaxBatchRows %d not in 1..%d", c.MaxBatchRows, MaxBatchRows)
	}
	return nil
}

// catalogEntry is one registered dataset.
type catalogEntry struct {
	info DatasetInfo
	open OpenFunc
}

// Catalog maps dataset names to sources: files, SQL queries and Go
// functions, plus the files of a directory. Register serves it on a
// stream.Mux (the dataset/export route). A Catalog is safe for concurrent
// use; datasets may be added while exports run.
type Catalog struct {
	cfg    CatalogConfig
	log    *slog.Logger
	root   *os.Root // cfg.Dir, or nil
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // demo seeding

	mu      sync.RWMutex
	entries map[string]catalogEntry
	dbs     map[string]*sql.DB // opened by the catalog, by driver and DSN
	closed  bool
}

// NewCatalog returns an empty catalog.
func NewCatalog(cfg CatalogConfig) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Layouts == nil {
		cfg.Layouts = Layouts()
	}
	if cfg.MaxBatchRows == 0 {
		cfg.MaxBatchRows = MaxBatchRows
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Catalog{cfg: cfg, log: cfg.Logger, entries: map[string]catalogEntry{}, dbs: map[string]*sql.DB{}}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("dataset: catalog directory: %w", err)
		}
		root, err := os.OpenRoot(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("dataset: catalog directory: %w", err)
		}
		c.root = root
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Close stops demo seeding, waits for it, and closes the databases the
// catalog opened. Call it after the server has shut down.
func (c *Catalog) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	var errs []error
	for _, db := range c.dbs {
		errs = append(errs, db.Close())
	}
	if c.root != nil {
		errs = append(errs, c.root.Close())
	}
	return errors.Join(errs...)
}

// validateName checks a dataset name.
func validateName(name string) error {
	why := ""
	switch {
	case name == "":
		why = "empty"
	case len(name) > 255:
		why = "longer than 255 bytes"
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	case strings.ContainsAny(name, "/\\"):
		why = "contains a path separator"
	case name == "." || name == "..":
		why = "is a directory reference"
	default:
		for _, r := range name {
			if r < 0x20 || r == 0x7f {
				why = fmt.Sprintf("contains control character %U", r)
			}
		}
	}
	if why == "" {
		return nil
	}
	return configErrorf("dataset name %q: %s", name, why)
}

func (c *Catalog) add(info DatasetInfo, open OpenFunc) error {
	if err := validateName(info.Name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if _, dup := c.entries[info.Name]; dup {
		return configErrorf("dataset %q is defined twice", info.Name)
	}
	c.entries[info.Name] = catalogEntry{info: info, open: open}
	return nil
}

// AddFunc adds a dataset whose sources open calls build. info.Name names
// it; info.Kind is set to KindFunc.
func (c *Catalog) AddFunc(info DatasetInfo, open OpenFunc) error {
	if open == nil {
		return configErrorf("dataset %q: nil OpenFunc", info.Name)
	}
	info.Kind, info.Format, info.AllowQuery = KindFunc, "", false
	return c.add(info, open)
}

// Add adds a file or SQL dataset. SQL datasets open (and ping) their
// database now, sharing one *sql.DB per driver and DSN.
func (c *Catalog) Add(spec DatasetSpec) error {
	if err := validateName(spec.Name); err != nil {
		return err
	}
	switch {
	case spec.File != "" && spec.Query != "":
		return configErrorf("dataset %q: set file or query, not both", spec.Name)
	case spec.File != "":
		return c.addFile(spec)
	case spec.Query != "":
		return c.addSQL(spec)
	}
	return configErrorf("dataset %q: set file or query", spec.Name)
}

func (c *Catalog) addFile(spec DatasetSpec) error {
	f := spec.Format
	var err error
	if f == "" {
		f, err = FormatOf(spec.File)
	} else {
		f, err = ParseFormat(string(f))
	}
	if err != nil {
		return fmt.Errorf("dataset %q: %w", spec.Name, err)
	}
	fi, err := os.Stat(spec.File)
	if err != nil {
		return fmt.Errorf("dataset %q: %w", spec.Name, err)
	}
	if !fi.Mode().IsRegular() {
		return configErrorf("dataset %q: %s is not a regular file", spec.Name, spec.File)
	}
	path, schema := spec.File, spec.Schema
	return c.add(DatasetInfo{Name: spec.Name, Kind: KindFile, Format: f, Resumable: true},
		func(_ context.Context, req OpenRequest) (Source, error) {
			return OpenFile(path, f, FileOptions{ReadConfig: req.ReadConfig, Schema: schema})
		})
}

func (c *Catalog) addSQL(spec DatasetSpec) error {
	db := spec.DB
	if db == nil {
		var err error
		if db, err = c.openDB(spec.Driver, spec.DSN); err != nil {
			return fmt.Errorf("dataset %q: %w", spec.Name, err)
		}
	}
	cfg := SQLConfig{Query: spec.Query, OrderBy: spec.OrderBy, CountRows: spec.CountRows, Schema: spec.Schema}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("dataset %q: %w", spec.Name, err)
	}
	info := DatasetInfo{Name: spec.Name, Kind: KindSQL, Resumable: strings.TrimSpace(spec.OrderBy) != "", AllowQuery: spec.AllowQuery}
	return c.add(info, func(ctx context.Context, req OpenRequest) (Source, error) {
		q := cfg
		if req.Query != "" {
			q.Query, q.OrderBy, q.Schema = req.Query, req.OrderBy, nil
		}
		q.ReadConfig = req.ReadConfig
		return NewSQLSource(ctx, db, q)
	})
}

// openDB returns the catalog's connection pool for driver and dsn, opening
// and pinging it the first time.
func (c *Catalog) openDB(driver, dsn string) (*sql.DB, error) {
	if driver == "" {
		driver = "sqlite"
	}
	if dsn == "" {
		return nil, configErrorf("empty DSN")
	}
	if !slices.Contains(sql.Drivers(), driver) {
		return nil, configErrorf("SQL driver %q is not registered (import _ \"modernc.org/sqlite\" for sqlite, _ \"github.com/jackc/pgx/v5/stdlib\" for pgx)", driver)
	}
	key := driver + "\x00" + dsn
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if db := c.dbs[key]; db != nil {
		return db, nil
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("dataset: open %s database: %w", driver, err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("dataset: connect to %s database: %w", driver, err)
	}
	c.dbs[key] = db
	return db, nil
}

// AddDemo adds the demo dataset: the table DemoTable of the SQLite database
// at path, seeded with rows DemoRow(0 … rows-1) (SeedDemo) when it is
// missing. Seeding runs in the background (about 3 s per million rows);
// exports of the dataset wait for it. The time it took is logged. The table
// is read in id order (resumable) and its row count, counted once, is
// announced as total_rows. The "sqlite" driver (modernc.org/sqlite) must be
// registered.
func (c *Catalog) AddDemo(name, path string, rows int64) error {
	if rows < 0 {
		return configErrorf("negative demo row count %d", rows)
	}
	db, err := c.openDB("sqlite", path)
	if err != nil {
		return fmt.Errorf("dataset %q: %w", name, err)
	}
	ready := make(chan struct{})
	var total int64
	var readyErr error
	err = c.add(DatasetInfo{Name: name, Kind: KindSQL, Resumable: true}, func(ctx context.Context, req OpenRequest) (Source, error) {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if readyErr != nil {
			return nil, readyErr
		}
		cfg := DemoSQLConfig(DemoTable)
		cfg.ReadConfig = req.ReadConfig
		if cfg.StartRow > total {
			return nil, configErrorf("start row %d is past the end of dataset %q (%d rows)", cfg.StartRow, name, total)
		}
		src, err := NewSQLSource(ctx, db, cfg)
		if err != nil {
			return nil, err
		}
		return &knownTotal{Source: src, total: total}, nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		readyErr = ErrClosed
		close(ready)
		return ErrClosed
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(ready)
		total, readyErr = c.seedDemo(db, path, rows)
	}()
	return nil
}

// seedDemo seeds the demo table unless it has rows, and counts them.
func (c *Catalog) seedDemo(db *sql.DB, path string, rows int64) (int64, error) {
	start := time.Now()
	var n int64
	if err := db.QueryRowContext(c.ctx, "SELECT count(*) FROM "+DemoTable).Scan(&n); err == nil && n > 0 {
		c.log.Info("demo dataset ready", "path", path, "rows", n, "seeded", false)
		return n, nil
	}
	c.log.Info("seeding demo dataset", "path", path, "rows", rows)
	if err := SeedDemo(c.ctx, db, DemoTable, rows); err != nil {
		if c.ctx.Err() == nil {
			c.log.Error("seeding demo dataset failed", "path", path, "err", err)
		}
		return 0, fmt.Errorf("dataset: demo table: %w", err)
	}
	if err := db.QueryRowContext(c.ctx, "SELECT count(*) FROM "+DemoTable).Scan(&n); err != nil {
		return 0, fmt.Errorf("dataset: demo table: %w", err)
	}
	took := time.Since(start)
	c.log.Info("seeded demo dataset", "path", path, "rows", n, "took", took.Round(time.Millisecond),
		"rowsPerSecond", int64(float64(n)/took.Seconds()))
	return n, nil
}

// knownTotal announces a row count its source cannot know by itself.
type knownTotal struct {
	Source
	total int64
}

// Info implements Source.
func (k *knownTotal) Info() SourceInfo {
	info := k.Source.Info()
	info.TotalRows = k.total
	return info
}

// Open opens dataset name for one export (see OpenFunc). A name the catalog
// does not know fails with an error matching ErrUnknownDataset.
func (c *Catalog) Open(ctx context.Context, name string, req OpenRequest) (Source, error) {
	if err := req.ReadConfig.Validate(); err != nil {
		return nil, err
	}
	if req.OrderBy != "" && req.Query == "" {
		return nil, configErrorf("an OrderBy needs a Query")
	}
	c.mu.RLock()
	e, ok := c.entries[name]
	closed := c.closed
	c.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if !ok {
		var err error
		if e, err = c.dirEntry(name); err != nil {
			return nil, err
		}
	}
	if req.Query != "" && !e.info.AllowQuery {
		return nil, fmt.Errorf("%w: %q", ErrQueryNotAllowed, name)
	}
	return e.open(ctx, req)
}

// Info describes dataset name.
func (c *Catalog) Info(name string) (DatasetInfo, error) {
	c.mu.RLock()
	e, ok := c.entries[name]
	c.mu.RUnlock()
	if ok {
		return e.info, nil
	}
	e, err := c.dirEntry(name)
	return e.info, err
}

// dirEntry finds name among the files of the catalog directory: the file
// of that name, else the only file in a supported format with that stem.
func (c *Catalog) dirEntry(name string) (catalogEntry, error) {
	unknown := fmt.Errorf("%w %q", ErrUnknownDataset, name)
	if c.root == nil || validateName(name) != nil || strings.HasPrefix(name, ".") {
		return catalogEntry{}, unknown
	}
	file := name
	fi, err := c.root.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		file, err = c.uniqueStem(name)
		if err != nil {
			return catalogEntry{}, err
		}
		if file == "" {
			return catalogEntry{}, unknown
		}
		fi, err = c.root.Stat(file)
	}
	if err != nil || !fi.Mode().IsRegular() {
		return catalogEntry{}, unknown
	}
	f, err := FormatOf(file)
	if err != nil {
		return catalogEntry{}, fmt.Errorf("dataset %q: %w", name, err)
	}
	root := c.root
	return catalogEntry{
		info: DatasetInfo{Name: file, Kind: KindFile, Format: f, Resumable: true},
		open: func(_ context.Context, req OpenRequest) (Source, error) {
			fh, err := root.Open(file)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %v", ErrUnknownDataset, name, err)
			}
			src, err := NewFileSource(fh, f, FileOptions{ReadConfig: req.ReadConfig})
			if err != nil {
				fh.Close()
				return nil, err
			}
			return &fileSource{Source: src, f: fh}, nil
		},
	}, nil
}

// uniqueStem returns the one file of the directory in a supported format
// whose name without extension is stem ("" if none).
func (c *Catalog) uniqueStem(stem string) (string, error) {
	var found []string
	for _, name := range c.dirFiles() {
		if strings.TrimSuffix(name, filepath.Ext(name)) == stem {
			found = append(found, name)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", configErrorf("dataset %q is ambiguous: %s; name the file", stem, strings.Join(found, ", "))
}

// dirFiles lists the regular files of the catalog directory in supported
// formats, sorted.
func (c *Catalog) dirFiles() []string {
	if c.root == nil {
		return nil
	}
	d, err := c.root.Open(".")
	if err != nil {
		return nil
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || validateName(name) != nil {
			continue
		}
		if _, err := FormatOf(name); err == nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// List describes every dataset, configured ones and the directory's files,
// sorted by name (a configured name hides a file of the same name).
func (c *Catalog) List() []DatasetInfo {
	c.mu.RLock()
	out := make([]DatasetInfo, 0, len(c.entries))
	named := make(map[string]bool, len(c.entries))
	for name, e := range c.entries {
		out = append(out, e.info)
		named[name] = true
	}
	c.mu.RUnlock()
	for _, name := range c.dirFiles() {
		if named[name] {
			continue
		}
		f, _ := FormatOf(name)
		out = append(out, DatasetInfo{Name: name, Kind: KindFile, Format: f, Resumable: true})
	}
	slices.SortFunc(out, func(a, b DatasetInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ParseDatasetSpec parses the command-line form of a SQL dataset,
// "NAME=DSN|QUERY|ORDERBY": the DSN runs to the first '|', the ORDERBY
// (which may be empty: not resumable) follows the last '|', and the query
// is everything between, so it may itself contain '|' (as in a || b). A
// DSN starting with postgres:// or postgresql:// selects the pgx driver,
// anything else is a SQLite file.
func ParseDatasetSpec(s string) (DatasetSpec, error) {
	name, rest, ok := strings.Cut(s, "=")
	first, last := strings.Index(rest, "|"), strings.LastIndex(rest, "|")
	if !ok || first < 0 || first == last {
		return DatasetSpec{}, configErrorf("dataset %q: want NAME=DSN|QUERY|ORDERBY", s)
	}
	spec := DatasetSpec{
		Name:    strings.TrimSpace(name),
		DSN:     strings.TrimSpace(rest[:first]),
		Query:   strings.TrimSpace(rest[first+1 : last]),
		OrderBy: strings.TrimSpace(rest[last+1:]),
		Driver:  "sqlite",
	}
	if strings.HasPrefix(spec.DSN, "postgres://") || strings.HasPrefix(spec.DSN, "postgresql://") {
		spec.Driver = "pgx"
	}
	if spec.DSN == "" || spec.Query == "" {
		return DatasetSpec{}, configErrorf("dataset %q: DSN and QUERY must not be empty", s)
	}
	return spec, validateName(spec.Name)
}

// datasetsFile is the JSON catalog configuration.
type datasetsFile struct {
	Datasets []DatasetSpec `json:"datasets"`
}

// LoadDatasetSpecs reads a JSON catalog configuration:
//
//	{"datasets": [
//	  {"name": "orders", "driver": "pgx", "dsn": "postgres://…", "query": "SELECT …",
//	   "orderBy": "id", "countRows": true},
//	  {"name": "flights", "file": "/data/flights.parquet"}
//	]}
//
// Unknown members are an error, so a misspelt option is not ignored.
func LoadDatasetSpecs(r io.Reader) ([]DatasetSpec, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f datasetsFile
	if err := dec.Decode(&f); err != nil {
		return nil, configErrorf("dataset configuration: %v", err)
	}
	return f.Datasets, nil
}
