package sluice

import "testing"

func TestDiscoveredOwner(t *testing.T) {
	for key, want := range map[string]string{
		"users/alice/photo.jpg":       "alice",
		"users/auth0|42/a/b/c.png":    "auth0|42",
		"users/alice/":                "",
		"users/alice":                 "",
		"users/../x.png":              "",
		"users/a b/x.png":             "",
		".tus/abc.info":               "",
		"other/alice/x.png":           "",
		"users//x.png":                "",
		"users/firebaseUid123/0.webp": "firebaseUid123",
	} {
		got, ok := DiscoveredOwner(key)
		if got != want || ok != (want != "") {
			t.Errorf("DiscoveredOwner(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

func TestTypeOfKey(t *testing.T) {
	for key, want := range map[string]string{
		"users/a/x.jpg": "image/jpeg", "users/a/x.JPEG": "image/jpeg", "users/a/x.png": "image/png",
		"users/a/x.avif": "image/avif", "users/a/x.html": "", "users/a/x": "", "users/a/x.jpg.html": "",
	} {
		if got := typeOfKey(key); got != want {
			t.Errorf("typeOfKey(%q) = %q, want %q", key, got, want)
		}
	}
}
