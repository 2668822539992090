package sts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/sluicehq/sluice/internal/secretfile"
)

// The master key file, and what is derived from it.
//
// Every secret of a session is a function of a master key and the access
// key id: the secret access key is an HMAC of the id, the session token is
// the session's claims sealed with AES-256-GCM bound to the id. So any
// instance holding the same key file accepts any other instance's
// credentials, and nothing secret is stored anywhere else.
//
// The file holds several keys for rotation: new sessions are sealed with
// the current one, and sessions sealed with any listed key are accepted.
// To rotate, add a key, make it current on every instance, and remove the
// old one once the longest session it sealed has expired (max_duration).

// masterKeyLen is the length of a master key in bytes.
const masterKeyLen = 32

// HKDF info strings: one derived key per purpose, so the token key and the
// secret key never coincide.
const (
	infoTokenKey  = "sluice-sts-token-enc-v1"
	infoSecretKey = "sluice-sts-secret-v1"
)

// keyID is what a key id may look like: it is written into every session
// token, between dots.
var keyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// KeyFile is the JSON shape of the master key file.
type KeyFile struct {
	// Current names the key new sessions are sealed with.
	Current string       `json:"current"`
	Keys    []KeyFileKey `json:"keys"`
}

// KeyFileKey is one master key.
type KeyFileKey struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"` // base64 (standard) of 32 random bytes
	Created time.Time `json:"created"`
}

// Keyring is the set of master keys, ready to seal and open sessions. It is
// immutable, so safe for concurrent use.
type Keyring struct {
	current *masterKey
	byID    map[string]*masterKey
}

type masterKey struct {
	id     string
	aead   cipher.AEAD // seals session tokens
	secret []byte      // HMAC key of secret access keys
}

// NewKeyring builds a keyring from the file's contents, checking it.
func NewKeyring(kf KeyFile) (*Keyring, error) {
	if len(kf.Keys) == 0 {
		return nil, errors.New("sts keys: no key")
	}
	kr := &Keyring{byID: make(map[string]*masterKey, len(kf.Keys))}
	for i, k := range kf.Keys {
		if !keyID.MatchString(k.ID) {
			return nil, fmt.Errorf("sts keys: keys[%d].id %q: want 1-32 of A-Z a-z 0-9 _ -", i, k.ID)
		}
		if kr.byID[k.ID] != nil {
			return nil, fmt.Errorf("sts keys: keys[%d].id %q is used twice", i, k.ID)
		}
		raw, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil || len(raw) != masterKeyLen {
			return nil, fmt.Errorf("sts keys: keys[%d].key: want base64 of %d bytes", i, masterKeyLen)
		}
		mk, err := deriveKey(k.ID, raw)
		if err != nil {
			return nil, err
		}
		kr.byID[k.ID] = mk
	}
	kr.current = kr.byID[kf.Current]
	if kr.current == nil {
		return nil, fmt.Errorf("sts keys: current %q is not one of the keys", kf.Current)
	}
	return kr, nil
}

func deriveKey(id string, master []byte) (*masterKey, error) {
	enc, err := hkdf.Key(sha256.New, master, nil, infoTokenKey, 32)
	if err != nil {
		return nil, err
	}
	sec, err := hkdf.Key(sha256.New, master, nil, infoSecretKey, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &masterKey{id: id, aead: aead, secret: sec}, nil
}

// CurrentKeyID is the id of the key new sessions are sealed with.
func (k *Keyring) CurrentKeyID() string { return k.current.id }

// NewKeyFile returns a key file with one new random key.
func NewKeyFile(now time.Time) KeyFile {
	b := make([]byte, masterKeyLen+4)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	id := now.UTC().Format("20060102") + "-" + hex.EncodeToString(b[masterKeyLen:])
	return KeyFile{Current: id, Keys: []KeyFileKey{{
		ID: id, Key: base64.StdEncoding.EncodeToString(b[:masterKeyLen]), Created: now.UTC().Truncate(time.Second),
	}}}
}

// LoadKeyring reads the master key file at path, creating it with one new
// key (mode 0600, in a directory created 0700) if it does not exist. Two
// processes racing to create it end up with the same file. A key file that
// others can read is refused, as ssh refuses such a private key: whoever
// reads it can mint credentials for any user.
func LoadKeyring(path string) (*Keyring, error) {
	kf, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKeyFile(path); err != nil {
			return nil, err
		}
		kf, err = readKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	kr, err := NewKeyring(kf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

func readKeyFile(path string) (KeyFile, error) {
	var kf KeyFile
	fi, err := os.Stat(path)
	if err != nil {
		return kf, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return kf, fmt.Errorf("sts key file %s has mode %v; it must be 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return kf, err
	}
	if err := json.Unmarshal(b, &kf); err != nil {
		return kf, fmt.Errorf("sts key file %s is not valid JSON: %w", path, err)
	}
	return kf, nil
}

// createKeyFile writes a new key file to a temporary name and links it into
// place, so the file never exists half-written and a concurrent creator's
// key is never overwritten.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sts key file: %w", err)
	}
	b, err := json.MarshalIndent(NewKeyFile(time.Now()), "", "  ")
	if err != nil {
		return err
	}
	if err := secretfile.Create(path, append(b, '\n')); err != nil {
		return fmt.Errorf("sts key file: %w", err)
	}
	return nil
}
