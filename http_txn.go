// http_txn.go: transactions (/v1/txn), Consul's atomic batch of KV,
// catalog, node, service and check operations.
//
//	PUT /v1/txn → body (txn_max_req_len) → []txnOp (at most 128, each KV
//	  value within kv_max_value_size) → read-only: readBarrier, one store
//	  snapshot's readTxn; otherwise one cmdTxn command → Agent.apply →
//	  Results, or 409 with Errors (the whole transaction rolled back)
//
// ACLs (http_acl_enforce.go): every operation is authorized first, and a
// denied one fails the transaction (409, its OpIndex and the 403 text)
// before anything is applied; results are filtered by read access.
//
// Concurrency: none of its own; each request runs on its own net/http
// goroutine (http.go), and a write is one command through the log.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Consul's limit for transactions.
const maxTxnOps = 128

func (h *httpAPI) registerTxn() {
	h.endpoint("/v1/txn", []string{http.MethodPut}, h.txn)
}

// txnResponse is /v1/txn's answer.
type txnResponse struct {
	Results []txnResult
	Errors  []txnError
}

func (h *httpAPI) txn(w http.ResponseWriter, r *http.Request) (any, error) {
	q, err := h.parseQuery(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.a.cfg.TxnMaxReqLen)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large, max size: %d bytes", h.a.cfg.TxnMaxReqLen)}
		}
		return nil, err
	}
	var ops []txnOp
	if err := json.Unmarshal(body, &ops); err != nil {
		return nil, badRequest("Failed to parse body: %v", err)
	}
	if len(ops) > maxTxnOps {
		return nil, &httpError{http.StatusRequestEntityTooLarge,
			fmt.Sprintf("Transaction contains too many operations (%d > %d)", len(ops), maxTxnOps)}
	}
	for _, op := range ops {
		if op.KV != nil && len(op.KV.Value) > h.a.cfg.KVMaxValueSize {
			return nil, &httpError{http.StatusRequestEntityTooLarge,
				fmt.Sprintf("Value for key %q is too large (%d > %d bytes)", op.KV.Key, len(op.KV.Value), h.a.cfg.KVMaxValueSize)}
		}
		if op.Node != nil && op.Node.Node.Datacenter == "" {
			op.Node.Node.Datacenter = h.a.cfg.Datacenter // as Consul's txn endpoint
		}
	}
	z, err := h.authorize(r)
	if err != nil {
		return nil, err
	}
	var res applyResult
	if errs := z.txnAuthorize(ops); len(errs) > 0 { // http_acl_enforce.go: nothing is applied
		res.txnErrors = errs
	} else if readOnly(ops) {
		// Served without a Raft write, as fresh as ?stale/?consistent ask.
		if err := h.a.readBarrier(r.Context(), q); err != nil {
			return nil, err
		}
		st := h.a.store.snapshot()
		res = st.readTxn(ops)
		h.setQueryMeta(w, q, st.index)
	} else if res, err = h.a.apply(r.Context(), &command{Type: cmdTxn, Txn: ops}); err != nil {
		return nil, err
	}
	out := txnResponse{}
	if len(res.txnErrors) > 0 {
		out.Errors = res.txnErrors
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(out)
		return nil, nil
	}
	var filtered bool
	out.Results, filtered = z.txnFilterResults(res.txnResults)
	for i, r := range out.Results {
		if r.Check != nil && len(r.Check.ServiceTags) == 0 && r.Check.ServiceTags != nil {
			c := *r.Check // a node check's tags are null here, [] in the health endpoints, as Consul's
			c.ServiceTags = nil
			out.Results[i].Check = &c
		}
	}
	if _, pretty := query(r)["pretty"]; !pretty && !readOnly(ops) && kvResultsOnly(out.Results) {
		h.writeJSONBody(w, func(b []byte) []byte { return appendTxnKVResults(b, out.Results) }) // http_kv_json.go
		return nil, nil
	}
	if readOnly(ops) {
		// Consul's read transaction also says whether ACLs removed results.
		return struct {
			txnResponse
			ResultsFilteredByACLs bool
		}{out, filtered && z.accessorID != aclAnonymousAccessorID}, nil
	}
	return out, nil
}
