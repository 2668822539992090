package oidc

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateNamesBadField(t *testing.T) {
	ok := IssuerConfig{Issuer: "https://idp.example.com/", Audiences: []string{"api"}}
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no issuers", Config{}, "issuers:"},
		{"no issuer", Config{Issuers: []IssuerConfig{{Audiences: []string{"a"}}}}, "issuers[0].issuer"},
		{"http issuer off loopback", Config{Issuers: []IssuerConfig{{Issuer: "http://idp.example.com", Audiences: []string{"a"}}}}, "issuers[0].issuer"},
		{"issuer with query", Config{Issuers: []IssuerConfig{{Issuer: "https://idp.example.com/?x=1", Audiences: []string{"a"}}}}, "issuers[0].issuer"},
		{"no audiences", Config{Issuers: []IssuerConfig{ok, {Issuer: "https://other.example.com"}}}, "issuers[1].audiences"},
		{"empty audience", Config{Issuers: []IssuerConfig{{Issuer: "https://x.example.com", Audiences: []string{""}}}}, "issuers[0].audiences"},
		{"http jwks_url off loopback", Config{Issuers: []IssuerConfig{{Issuer: "https://x.example.com", Audiences: []string{"a"}, JWKSURL: "http://x.example.com/jwks"}}}, "issuers[0].jwks_url"},
		{"duplicate issuer", Config{Issuers: []IssuerConfig{ok, ok}}, "issuers[1].issuer"},
		{"bad firebase project", Config{Issuers: []IssuerConfig{{Firebase: "x/../evil"}}}, "issuers[0].firebase"},
		{"firebase with other issuer", Config{Issuers: []IssuerConfig{{Firebase: "p-1", Issuer: "https://x.example.com"}}}, "issuers[0].issuer"},
		{"firebase with other audience", Config{Issuers: []IssuerConfig{{Firebase: "p-1", Audiences: []string{"x"}}}}, "issuers[0].audiences"},
		{"emulator without firebase", Config{Issuers: []IssuerConfig{{Issuer: "https://x.example.com", Audiences: []string{"a"}, FirebaseEmulator: true}}}, "issuers[0].firebase_emulator"},
		{"negative leeway", Config{Issuers: []IssuerConfig{ok}, Leeway: -time.Second}, "leeway"},
		{"huge leeway", Config{Issuers: []IssuerConfig{ok}, Leeway: time.Hour}, "leeway"},
		{"negative grace", Config{Issuers: []IssuerConfig{ok}, JWKSGrace: -1}, "jwks_grace"},
		{"negative max token size", Config{Issuers: []IssuerConfig{ok}, MaxTokenSize: -1}, "max_token_size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %q does not name %s", err, c.field)
			}
		})
	}
}

func TestValidateExpandsFirebaseAndDefaults(t *testing.T) {
	cfg := Config{Issuers: []IssuerConfig{
		{Firebase: "my-project"},
		{Firebase: "demo-x", JWKSURL: "http://127.0.0.1:9/jwks", FirebaseEmulator: true},
		{Issuer: "http://localhost:8080/dev", Audiences: []string{DevAudience}},
	}}
	for range 2 { // idempotent
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	want := IssuerConfig{
		Firebase:  "my-project",
		Issuer:    "https://securetoken.google.com/my-project",
		Audiences: []string{"my-project"},
		JWKSURL:   firebaseJWKSURL,
	}
	if !reflect.DeepEqual(cfg.Issuers[0], want) {
		t.Fatalf("expanded %+v, want %+v", cfg.Issuers[0], want)
	}
	if cfg.Issuers[1].JWKSURL != "http://127.0.0.1:9/jwks" {
		t.Fatalf("explicit jwks_url replaced: %q", cfg.Issuers[1].JWKSURL)
	}
	if cfg.Leeway != DefaultLeeway || cfg.JWKSGrace != DefaultJWKSGrace || cfg.RefetchInterval != DefaultRefetchInterval ||
		cfg.MaxTokenSize != DefaultMaxTokenSize || cfg.CacheSize != DefaultCacheSize ||
		cfg.HTTPClient == nil || cfg.Now == nil || cfg.Logger == nil {
		t.Fatalf("defaults not filled: %+v", cfg)
	}
}

func TestNewDoesNotAliasIssuers(t *testing.T) {
	issuers := []IssuerConfig{{Firebase: "my-project"}}
	if _, err := New(Config{Issuers: issuers}); err != nil {
		t.Fatal(err)
	}
	if issuers[0].Issuer != "" {
		t.Fatal("New rewrote the caller's IssuerConfig")
	}
}
