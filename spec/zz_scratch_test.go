package spec

import (
	"fmt"
	"testing"

	"github.com/compose-spec/compose-go/v2/schema"
)

func TestScratch(t *testing.T) {
	for _, p := range schema.AttributePaths() {
		fmt.Println(p)
	}
}
