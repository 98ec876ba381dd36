package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
)

// The OpenAPI document is kept by hand; these tests hold it to the
// server: the same routes and methods as the router, and for each
// operation the request and success schemas of the Go structs the
// handlers decode and encode (property names from json tags, required =
// tagged without omitempty / omitzero), through nested objects and arrays.

// operations maps every API operation to its Go request body (nil: none)
// and its success status and body (nil: none).
var operations = map[string]struct {
	request  any
	status   int
	response any
}{
	"GET " + OpenAPIPath:                               {nil, 200, nil},
	"GET " + APIPath + "/session":                      {nil, 200, apiWhoAmIResponse{}},
	"POST " + APIPath + "/session":                     {apiSessionRequest{}, 201, apiSessionResponse{}},
	"DELETE " + APIPath + "/session":                   {nil, 204, nil},
	"GET " + APIPath + "/agencies":                     {nil, 200, apiAgenciesResponse{}},
	"POST " + APIPath + "/agencies":                    {apiAgencyRequest{}, 201, apiAgency{}},
	"GET " + APIPath + "/agencies/{id}":                {nil, 200, apiAgencyResponse{}},
	"GET " + APIPath + "/agencies/{id}/accesses":       {nil, 200, apiAccessesResponse{}},
	"GET " + APIPath + "/audit":                        {nil, 200, apiAuditPage{}},
	"GET " + APIPath + "/audit/export.json":            {nil, 200, apiAuditExport{}},
	"GET " + APIPath + "/audit/export.csv":             {nil, 200, nil},
	"POST " + APIPath + "/audit/citizen-lookup":        {apiCitizenLookupRequest{}, 200, apiCitizenLookupResponse{}},
	"POST " + APIPath + "/applications":                {apiApplicationRequest{}, 201, apiApplicationResponse{}},
	"GET " + APIPath + "/permits":                      {nil, 200, apiPermitsResponse{}},
	"GET " + APIPath + "/permits/{id}":                 {nil, 200, apiPermitResponse{}},
	"POST " + APIPath + "/permits/{id}/decisions":      {apiDecisionRequest{}, 201, apiDecisionResponse{}},
	"POST " + APIPath + "/permits/{id}/systems":        {apiSystem{}, 201, apiSystemResponse{}},
	"GET " + APIPath + "/systems/{client_id}":          {nil, 200, apiSystemResponse{}},
	"PUT " + APIPath + "/systems/{client_id}":          {apiSystem{}, 200, apiSystemResponse{}},
	"POST " + APIPath + "/systems/{client_id}/secret":  {nil, 200, apiSecretResponse{}},
	"POST " + APIPath + "/systems/{client_id}/disable": {nil, 200, apiSystemResponse{}},
	"POST " + APIPath + "/systems/{client_id}/enable":  {nil, 200, apiSystemResponse{}},
	"POST " + APIPath + "/admins/{id}/disable":         {nil, 200, apiConfirmEnrolmentResponse{}},
	"POST " + APIPath + "/admins/{id}/enable":          {nil, 200, apiConfirmEnrolmentResponse{}},
	"POST " + APIPath + "/permits/{id}/renewals":       {apiGrantRequest{}, 201, apiDecisionResponse{}},
	"GET " + APIPath + "/admins":                       {nil, 200, apiAdminsResponse{}},
	"POST " + APIPath + "/admins":                      {apiAdminRequest{}, 201, apiCreateAdminResponse{}},
	"POST " + APIPath + "/admins/{id}/confirmation":    {nil, 200, apiConfirmEnrolmentResponse{}},
	"GET " + APIPath + "/tokens":                       {nil, 200, apiTokensResponse{}},
	"POST " + APIPath + "/tokens":                      {apiTokenRequest{}, 201, apiIssueTokenResponse{}},
	"DELETE " + APIPath + "/tokens/{id}":               {nil, 204, nil},
	"POST " + APIPath + "/enrol":                       {apiEnrolRequest{}, 200, apiEnrolResponse{}},
	"POST " + APIPath + "/enrol/confirm":               {apiConfirmEnrolmentRequest{}, 200, apiConfirmEnrolmentResponse{}},
	"GET " + APIPath + "/usage":                        {nil, 200, apiUsage{}},
	"GET " + APIPath + "/usage/export.json":            {nil, 200, apiUsage{}},
	"GET " + APIPath + "/usage/export.csv":             {nil, 200, nil},
}

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas   map[string]*schema          `json:"schemas"`
		Responses map[string]*openAPIResponse `json:"responses"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Required bool `json:"required"`
		Content  map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]*openAPIResponse `json:"responses"`
}

type openAPIResponse struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema *schema `json:"schema"`
	} `json:"content"`
}

type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Format               string             `json:"format"`
	Required             []string           `json:"required"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties any                `json:"additionalProperties"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
	return doc
}

func (d openAPIDoc) resolve(t *testing.T, s *schema) *schema {
	t.Helper()
	for s != nil && s.Ref != "" {
		name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
		if !ok || d.Components.Schemas[name] == nil {
			t.Fatalf("unresolved $ref %q", s.Ref)
		}
		s = d.Components.Schemas[name]
	}
	return s
}

// routes walks a router for its (method, path template) pairs.
func routes(t *testing.T, rt *mux.Router) []string {
	t.Helper()
	var out []string
	err := rt.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("%s has no methods: %w", path, err)
		}
		for _, m := range methods {
			out = append(out, m+" "+path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	doc := loadOpenAPI(t)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(documented)
	served := routes(t, s.h.api)
	if !slices.Equal(documented, served) {
		t.Errorf("the OpenAPI document and the router differ:\ndocumented %v\nserved     %v", documented, served)
	}
	var known []string
	for op := range operations {
		known = append(known, op)
	}
	sort.Strings(known)
	if !slices.Equal(known, served) {
		t.Errorf("this test's table of operations is out of date:\ntable  %v\nserved %v", known, served)
	}

	// The served document is the embedded file.
	res, err := http.Get(s.srv.URL + OpenAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" || string(body) != string(openAPIDocument) {
		t.Errorf("GET %s: %d %s, not the document", OpenAPIPath, res.StatusCode, res.Header.Get("Content-Type"))
	}
}

func TestOpenAPIMatchesStructs(t *testing.T) {
	doc := loadOpenAPI(t)
	for key, want := range operations {
		method, path, _ := strings.Cut(key, " ")
		raw := doc.Paths[path][strings.ToLower(method)]
		if raw == nil {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		t.Run(key, func(t *testing.T) {
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			if op.OperationID == "" {
				t.Error("no operationId")
			}
			// Path parameters: exactly the template's.
			var params, inPath []string
			for _, p := range op.Parameters {
				if p.In == "path" {
					params = append(params, p.Name)
				}
			}
			for _, seg := range strings.Split(path, "/") {
				if v, ok := strings.CutPrefix(seg, "{"); ok {
					inPath = append(inPath, strings.TrimSuffix(v, "}"))
				}
			}
			if !slices.Equal(params, inPath) {
				t.Errorf("path parameters %v, want %v", params, inPath)
			}

			switch {
			case want.request == nil && op.RequestBody != nil:
				t.Error("documents a request body the handler does not read")
			case want.request != nil && op.RequestBody == nil:
				t.Error("does not document the request body")
			case want.request != nil:
				mt, ok := op.RequestBody.Content["application/json"]
				if !op.RequestBody.Required || !ok {
					t.Fatal("the request body must be required application/json")
				}
				compareSchema(t, doc, "request", mt.Schema, reflect.TypeOf(want.request))
			}

			st := strconv.Itoa(want.status)
			r := op.Responses[st]
			if r == nil {
				t.Fatalf("no %s response; documented %v", st, keysOf(op.Responses))
			}
			for code, r := range op.Responses {
				if !strings.HasPrefix(code, "2") && r.Ref == "" && len(r.Content) == 0 {
					t.Errorf("response %s has no Error body", code)
				}
				if r.Ref != "" && doc.Components.Responses[strings.TrimPrefix(r.Ref, "#/components/responses/")] == nil {
					t.Errorf("unresolved response %s", r.Ref)
				}
			}
			for _, code := range []string{"405", "500"} {
				if op.Responses[code] == nil {
					t.Errorf("no %s response", code)
				}
			}
			if want.request != nil {
				for _, code := range []string{"400", "413", "415"} {
					if op.Responses[code] == nil {
						t.Errorf("reads a body but documents no %s", code)
					}
				}
			}
			if want.response == nil {
				if ct, ok := r.Content["application/json"]; ok && path != OpenAPIPath {
					t.Errorf("documents a %s body %v the handler does not write", st, ct.Schema)
				}
				return
			}
			mt, ok := r.Content["application/json"]
			if !ok {
				t.Fatalf("the %s response has no application/json body", st)
			}
			compareSchema(t, doc, "response", mt.Schema, reflect.TypeOf(want.response))
		})
	}

	// Every error answer is the Error schema.
	compareSchema(t, doc, "Error", &schema{Ref: "#/components/schemas/Error"}, reflect.TypeFor[apiError]())
	for name, r := range doc.Components.Responses {
		mt, ok := r.Content["application/json"]
		if !ok || mt.Schema == nil || mt.Schema.Ref != "#/components/schemas/Error" {
			t.Errorf("response %s is not an Error", name)
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// compareSchema checks a schema against a Go type, recursively.
func compareSchema(t *testing.T, doc openAPIDoc, at string, s *schema, typ reflect.Type) {
	t.Helper()
	s = doc.resolve(t, s)
	if s == nil {
		t.Errorf("%s: no schema", at)
		return
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := ""
	switch {
	case typ == reflect.TypeFor[time.Time]():
		if s.Type != "string" || s.Format != "date-time" {
			t.Errorf("%s: %s/%s, want string/date-time", at, s.Type, s.Format)
		}
		return
	case typ == reflect.TypeFor[json.RawMessage]():
		want = "object"
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() == reflect.Int, typ.Kind() == reflect.Int64:
		want = "integer"
	case typ.Kind() == reflect.Map:
		want = "object"
	case typ.Kind() == reflect.Slice:
		if s.Type != "array" || s.Items == nil {
			t.Errorf("%s: type %q, want an array", at, s.Type)
			return
		}
		compareSchema(t, doc, at+"[]", s.Items, typ.Elem())
		return
	case typ.Kind() == reflect.Struct:
		if s.Type != "object" {
			t.Errorf("%s: type %q, want object", at, s.Type)
			return
		}
		var names, required []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, req, ok := jsonFieldOf(f)
			if !ok {
				continue
			}
			names = append(names, name)
			if req {
				required = append(required, name)
			}
			if p := s.Properties[name]; p == nil {
				t.Errorf("%s: no property %q", at, name)
			} else {
				compareSchema(t, doc, at+"."+name, p, f.Type)
			}
		}
		sort.Strings(names)
		sort.Strings(required)
		docRequired := slices.Clone(s.Required)
		sort.Strings(docRequired)
		if props := keysOf(s.Properties); !slices.Equal(props, names) {
			t.Errorf("%s: properties %v, the struct has %v", at, props, names)
		}
		if !slices.Equal(docRequired, required) {
			t.Errorf("%s: required %v, the struct requires %v", at, docRequired, required)
		}
		if s.AdditionalProperties != false {
			t.Errorf("%s: additionalProperties must be false (unknown fields are refused)", at)
		}
		return
	default:
		t.Errorf("%s: no rule for Go type %s", at, typ)
		return
	}
	if s.Type != want {
		t.Errorf("%s: type %q, want %q (Go %s)", at, s.Type, want, typ)
	}
}
