package emu

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMiddleware(t *testing.T) {
	var acted atomic.Int32
	var faults Faults
	var count Counter
	h := Middleware(&faults, &count, func(w http.ResponseWriter, status int, msg string) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, msg)
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acted.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, error) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	faults.FailNext(2, "/a", 503)
	for _, want := range []int{503, 503, 200} {
		got, err := get("/a/x")
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	require.EqualValues(t, 1, acted.Load(), "failed requests never reach the handler")

	faults.Add(Fault{Path: "/b", Reset: ResetBefore})
	_, err := get("/b")
	require.Error(t, err)
	require.EqualValues(t, 1, acted.Load())

	faults.Add(Fault{Path: "/b", Reset: ResetAfter})
	_, err = get("/b")
	require.Error(t, err)
	require.EqualValues(t, 2, acted.Load(), "the handler acted before the connection dropped")

	require.Equal(t, 3, count.Count(http.MethodGet, "/a"))
	require.Equal(t, 5, count.Total())
	require.Equal(t, "GET /a/x", count.Requests()[0])
	count.Reset()
	require.Zero(t, count.Total())
}

func TestClock(t *testing.T) {
	var c Clock
	require.WithinDuration(t, time.Now(), c.Now(), time.Minute)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(at)
	c.Advance(time.Hour)
	require.Equal(t, at.Add(time.Hour), c.Now())
}

func TestFaultWithRawBody(t *testing.T) {
	var faults Faults
	h := Middleware(&faults, &Counter{}, func(http.ResponseWriter, int, string) { t.Fatal("the raw body replaces the error writer") },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	faults.Add(Fault{Status: 200, Body: "<html>not json"})
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "<html>not json", string(b))
}

func TestFaultSkip(t *testing.T) {
	var faults Faults
	srv := httptest.NewServer(Middleware(&faults, &Counter{}, func(w http.ResponseWriter, status int, _ string) { w.WriteHeader(status) },
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	faults.Add(Fault{Skip: 2, Status: 503})
	var got []int
	for range 4 {
		resp, err := http.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	require.Equal(t, []int{200, 200, 503, 200}, got)
}

func TestRoutes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /things/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok "+r.PathValue("id")) })
	h := Routes(mux, func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, msg)
	})
	for _, tc := range []struct {
		method, path string
		status       int
		body, allow  string
	}{
		{"POST", "/things/a", http.StatusOK, "ok a", ""},
		{"GET", "/things/a", http.StatusMethodNotAllowed, "Method Not Allowed", "POST"},
		{"POST", "/nothing", http.StatusNotFound, "Not Found", ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		require.Equal(t, tc.status, rec.Code, tc.path)
		require.Equal(t, tc.body, rec.Body.String())
		require.Equal(t, tc.allow, rec.Header().Get("Allow"))
		if tc.status != http.StatusOK {
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
		}
	}
}
