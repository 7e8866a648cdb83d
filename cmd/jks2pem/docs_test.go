package main

import (
	"testing"

	"github.com/keybridge/keybridge/internal/testkit"
)

func TestEveryFlagDocumented(t *testing.T) { testkit.CheckDocumented(t, binary) }
