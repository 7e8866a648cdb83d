package demoapp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keybridge/keybridge/internal/demoapp"
)

func ExampleNew() {
	srv := httptest.NewServer(demoapp.New("node1"))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(strings.HasPrefix(string(b), "backend=node1 session="), len(resp.Cookies()))
	// Output: true 1
}
