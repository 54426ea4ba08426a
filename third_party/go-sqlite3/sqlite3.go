// Package sqlite3 stands in for github.com/mattn/go-sqlite3 in programs
// that link sandwire: go.mod replaces that module with this directory.
//
// podman's client libraries link mattn's driver (through the image
// library's blob info cache), and sandwire's vault needs SQLCipher, which
// github.com/mutecomm/go-sqlcipher/v4 bundles. Both compile their own copy
// of SQLite's C library under the same symbol names, and both register the
// database/sql driver "sqlite3", so one program cannot link the two. This
// package links SQLCipher alone, under mattn's import path: it registers
// "sqlite3" as SQLCipher, which opens a database that has no key as plain
// SQLite, as mattn's driver would.
package sqlite3

import _ "github.com/mutecomm/go-sqlcipher/v4" // registers "sqlite3"
