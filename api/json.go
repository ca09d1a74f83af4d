package api

import (
	"fmt"
	"net/http"

	gojson "github.com/goccy/go-json"
	"github.com/labstack/echo/v4"
)

// jsonSerializer is echo's JSON serializer with goccy/go-json, a drop-in for encoding/json
// (struct tags, Marshaler implementations, HTML escaping) that encodes the read API's pages
// several times faster. The write API decodes its bodies itself (decode.go), strictly.
type jsonSerializer struct{}

// Serialize writes i as JSON, indented when indent is set.
func (jsonSerializer) Serialize(c echo.Context, i any, indent string) error {
	enc := gojson.NewEncoder(c.Response())
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}

// Deserialize decodes the request body into i (echo's Bind; unused by Shopflow's routes),
// answering 400 for malformed JSON as echo's default serializer does.
func (jsonSerializer) Deserialize(c echo.Context, i any) error {
	err := gojson.NewDecoder(c.Request().Body).Decode(i)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("invalid JSON: %v", err)).SetInternal(err)
	}
	return nil
}
