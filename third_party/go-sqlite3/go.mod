module github.com/mattn/go-sqlite3

go 1.26

require github.com/mutecomm/go-sqlcipher/v4 v4.4.2
