// Package signedrequest is the signed-request contract: an Api-Signature
// token is a strict compact JWS with a small header, typed claims, a bounded
// lifetime and a binding to the request's method, path, query and body,
// verified with a trusted key. The gateway, `caddy checkout explain` and
// `caddy checkout sign` all use it, so they cannot disagree.
package signedrequest
