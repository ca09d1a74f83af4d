package eventstore

import (
	"embed"
	"errors"
	"fmt"
	"net/url"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the event store schema of the database at databaseURL (postgres://…) up to
// date. It is safe to run concurrently from several processes: golang-migrate serialises
// runs with an advisory lock. It returns nil when there is nothing to do.
func Migrate(databaseURL string) error {
	return migrateTo(databaseURL, 0)
}

// migrateTo migrates up (or down) to version, or up to the latest when version is 0.
func migrateTo(databaseURL string, version uint) error {
	src, err := iofs.New(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("eventstore: migrations: %w", err)
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return fmt.Errorf("eventstore: migrate: parse url: %w", err)
	}
	u.Scheme = "pgx5"
	m, err := migrate.NewWithSourceInstance("iofs", src, u.String())
	if err != nil {
		return fmt.Errorf("eventstore: migrate %s: %w", u.Path, err)
	}
	defer m.Close()
	if version == 0 {
		err = m.Up()
	} else {
		err = m.Migrate(version)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("eventstore: migrate %s: %w", u.Path, err)
	}
	return nil
}
