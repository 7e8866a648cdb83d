// Package clidocs writes a program's man page and its bash and zsh completion
// from the urfave/cli definitions the program itself runs with, so that a flag
// cannot be added without being documented. It is linked only into the
// generator build (`go build -tags gendocs`, see internal/cmdutil/gendocs.go);
// the installed programs do not carry it.
package clidocs
