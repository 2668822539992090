package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/internal/secretfile"
)

// Admin configures the admin API (/admin/v1/, `sluice admin`, `sluice
// audit`).
type Admin struct {
	// TokenFile holds the admin bearer token; default <data>/admin-token.
	// It is generated (32 random bytes, hex, mode 0600) on first start.
	TokenFile string `yaml:"token_file"`
	// Disabled turns the admin API off.
	Disabled bool `yaml:"disabled"`
}

// AdminTokenFile is the admin token file of a config.
func AdminTokenFile(cfg Config) string {
	if cfg.Admin.TokenFile != "" {
		return cfg.Admin.TokenFile
	}
	return filepath.Join(cfg.Data, "admin-token")
}

// adminToken reads the admin token, creating the file on first start.
func adminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("admin.token_file %s: mode %v lets others read the admin token; chmod 600 it", path, fi.Mode().Perm())
		}
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("admin.token_file %s: the token must be at least 32 characters", path)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin.token_file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	// Two instances starting at once on one data directory must not each
	// keep a different token: Create keeps the first, and both read it.
	if err := secretfile.Create(path, []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("admin.token_file: %w", err)
	}
	return adminToken(path)
}

// defaultIssuer is the issuer admin requests mean when they name none: the
// only one trusted, or "" when there are several.
func (a *App) defaultIssuer() string {
	var iss []string
	for _, is := range a.Config.Identity.Issuers {
		iss = append(iss, is.Issuer)
	}
	if a.Dev != nil {
		iss = append(iss, a.Dev.IssuerConfig().Issuer)
	}
	if len(iss) == 1 {
		return iss[0]
	}
	return ""
}

// governance wires bans to the STS (so its revocation cache forgets at
// once) and returns the admin token ("" when the admin API is off).
func (a *App) governance() (string, error) {
	if a.STS != nil {
		a.Service.RevokeUser = a.STS.RevokeUser
	}
	if a.Config.Admin.Disabled {
		return "", nil
	}
	return adminToken(AdminTokenFile(a.Config))
}
