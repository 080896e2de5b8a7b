package caddymodule

import (
	"fmt"
	"net/http"
	"slices"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Groups of checks that report_only can name.
const (
	groupSignature = "signature"
	groupBody      = "body"
	groupReplay    = "replay"
	groupRateLimit = "rate_limit"
)

var reportGroups = []string{groupSignature, groupBody, groupReplay, groupRateLimit}

// reasonGroup puts each reason that report_only can cover in its group. A
// reason in no group protects the gateway itself (path, framing, size, read
// time, method) and is always enforced.
var reasonGroup = map[reason]string{
	reasonTokenMissing:       groupSignature,
	reasonTokenMalformed:     groupSignature,
	reasonTokenHeader:        groupSignature,
	reasonAlgNotAllowed:      groupSignature,
	reasonKidUnknown:         groupSignature,
	reasonAPIKey:             groupSignature,
	reasonAPIKeyMismatch:     groupSignature,
	reasonNoKeyVerified:      groupSignature,
	reasonSignatureInvalid:   groupSignature,
	reasonNoKeys:             groupSignature,
	reasonClaimMissing:       groupSignature,
	reasonClaimType:          groupSignature,
	reasonAudience:           groupSignature,
	reasonTokenExpired:       groupSignature,
	reasonTokenNotYetValid:   groupSignature,
	reasonTokenLifetime:      groupSignature,
	reasonMethodMismatch:     groupSignature,
	reasonPathMismatch:       groupSignature,
	reasonQueryMismatch:      groupSignature,
	reasonBodyHashMismatch:   groupSignature,
	reasonMediaType:          groupBody,
	reasonContentEncoding:    groupBody,
	reasonBodyNotJSON:        groupBody,
	reasonSchema:             groupBody,
	reasonReplayed:           groupReplay,
	reasonReplayStoreFull:    groupReplay,
	reasonReplayStoreDown:    groupReplay,
	reasonRateLimited:        groupRateLimit,
	reasonRateLimitStoreDown: groupRateLimit,
}

func checkReportGroups(groups []string) error {
	for _, group := range groups {
		if !slices.Contains(reportGroups, group) {
			return fmt.Errorf("report_only: %q is not one of %v", group, reportGroups)
		}
	}
	return nil
}

// findings is what report_only let through for one request.
type findings struct {
	reported   []reason
	unverified bool // a signature check was reported: no key vouches for the request
}

// settle is where a failed check becomes a refusal or, in a group that
// report_only covers, a report: logged at Warn with the refusal's fields,
// counted under outcome `reported`, and the request goes on.
func (g *Gateway) settle(r *http.Request, tok *token, f *findings, rej *rejection) *rejection {
	if rej == nil {
		return nil
	}
	group, coverable := reasonGroup[rej.reason]
	if !coverable || !slices.Contains(g.ReportOnly, group) {
		return rej
	}
	if len(f.reported) == 0 {
		setPlaceholder(r, placeholderReason, string(rej.reason))
	}
	if tok != nil {
		setPlaceholder(r, placeholderKid, clip(tok.kid))
	}
	f.reported = append(f.reported, rej.reason)
	if group == groupSignature {
		f.unverified = true
	}
	g.metrics.countRequest(outcomeReported, rej.reason)
	if ce := g.logger.Check(zapcore.WarnLevel, "request would be refused; forwarded (report_only)"); ce != nil {
		fields := []zap.Field{
			zap.String("instance", requestID(r)),
			zap.String("reason", string(rej.reason)),
			zap.Int("status", rej.status),
			zap.String("remote_addr", r.RemoteAddr),
		}
		if tok != nil {
			fields = append(fields, zap.String("kid", clip(tok.kid)), zap.String("alg", clip(tok.alg)))
		}
		ce.Write(fields...)
	}
	return nil
}
