// Code generated from storage.Store's method set by a one-off reflect
// program; regenerate (or add by hand) when Store gains a method: until
// then the new method works, untraced, through the embedded Store.

package main

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/dopaid/dopaid/storage"
)

// tracedStore makes each call of a Store a span named store.METHOD.
type tracedStore struct {
	storage.Store
	t trace.Tracer
}

func (s tracedStore) AccessToken(ctx context.Context, a1 string, a2 time.Time) (storage.TokenInfo, error) {
	ctx, sp := s.t.Start(ctx, "store.AccessToken")
	r0, err := s.Store.AccessToken(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Admin(ctx context.Context, a1 string) (storage.Admin, error) {
	ctx, sp := s.t.Start(ctx, "store.Admin")
	r0, err := s.Store.Admin(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AdminByInvite(ctx context.Context, a1 string) (storage.Admin, error) {
	ctx, sp := s.t.Start(ctx, "store.AdminByInvite")
	r0, err := s.Store.AdminByInvite(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AdminByUsername(ctx context.Context, a1 string) (storage.Admin, error) {
	ctx, sp := s.t.Start(ctx, "store.AdminByUsername")
	r0, err := s.Store.AdminByUsername(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AdminTokenByHash(ctx context.Context, a1 string) (storage.AdminToken, error) {
	ctx, sp := s.t.Start(ctx, "store.AdminTokenByHash")
	r0, err := s.Store.AdminTokenByHash(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AdminTokens(ctx context.Context, a1 string) ([]storage.AdminToken, error) {
	ctx, sp := s.t.Start(ctx, "store.AdminTokens")
	r0, err := s.Store.AdminTokens(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Admins(ctx context.Context) ([]storage.Admin, error) {
	ctx, sp := s.t.Start(ctx, "store.Admins")
	r0, err := s.Store.Admins(ctx)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Agencies(ctx context.Context) ([]storage.Agency, error) {
	ctx, sp := s.t.Start(ctx, "store.Agencies")
	r0, err := s.Store.Agencies(ctx)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Agency(ctx context.Context, a1 string) (storage.Agency, error) {
	ctx, sp := s.t.Start(ctx, "store.Agency")
	r0, err := s.Store.Agency(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AppendAudit(ctx context.Context, a1 storage.AuditEntry) (storage.AuditEntry, error) {
	ctx, sp := s.t.Start(ctx, "store.AppendAudit")
	r0, err := s.Store.AppendAudit(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AppendLogEntries(ctx context.Context, a1 []storage.LogEntry) error {
	ctx, sp := s.t.Start(ctx, "store.AppendLogEntries")
	err := s.Store.AppendLogEntries(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) Application(ctx context.Context, a1 string) (storage.Application, error) {
	ctx, sp := s.t.Start(ctx, "store.Application")
	r0, err := s.Store.Application(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) ApplicationsByAgency(ctx context.Context, a1 string) ([]storage.Application, error) {
	ctx, sp := s.t.Start(ctx, "store.ApplicationsByAgency")
	r0, err := s.Store.ApplicationsByAgency(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) ApplyDecision(ctx context.Context, a1 string, a2 time.Time, a3 func(storage.Permit, storage.Decision) (storage.Permit, storage.Record, error)) (storage.Permit, error) {
	ctx, sp := s.t.Start(ctx, "store.ApplyDecision")
	r0, err := s.Store.ApplyDecision(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AuditEntries(ctx context.Context, a1 storage.AuditFilter) ([]storage.AuditEntry, error) {
	ctx, sp := s.t.Start(ctx, "store.AuditEntries")
	r0, err := s.Store.AuditEntries(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AuthRequest(ctx context.Context, a1 string, a2 time.Time) (storage.AuthRequest, error) {
	ctx, sp := s.t.Start(ctx, "store.AuthRequest")
	r0, err := s.Store.AuthRequest(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Authenticator(ctx context.Context, a1 string, a2 string) (storage.Authenticator, error) {
	ctx, sp := s.t.Start(ctx, "store.Authenticator")
	r0, err := s.Store.Authenticator(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Citizen(ctx context.Context, a1 string) (storage.Citizen, error) {
	ctx, sp := s.t.Start(ctx, "store.Citizen")
	r0, err := s.Store.Citizen(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) CitizenByPID(ctx context.Context, a1 string) (storage.Citizen, error) {
	ctx, sp := s.t.Start(ctx, "store.CitizenByPID")
	r0, err := s.Store.CitizenByPID(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) ClearThrottle(ctx context.Context, a1 string) error {
	ctx, sp := s.t.Start(ctx, "store.ClearThrottle")
	err := s.Store.ClearThrottle(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) Client(ctx context.Context, a1 string) (storage.Client, error) {
	ctx, sp := s.t.Start(ctx, "store.Client")
	r0, err := s.Store.Client(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Clients(ctx context.Context) ([]storage.Client, error) {
	ctx, sp := s.t.Start(ctx, "store.Clients")
	r0, err := s.Store.Clients(ctx)
	end(sp, err)
	return r0, err
}

func (s tracedStore) ClientsByPermit(ctx context.Context, a1 string) ([]storage.Client, error) {
	ctx, sp := s.t.Start(ctx, "store.ClientsByPermit")
	r0, err := s.Store.ClientsByPermit(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) CompleteAuthRequest(ctx context.Context, a1 string, a2 storage.AuthResult, a3 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.CompleteAuthRequest")
	err := s.Store.CompleteAuthRequest(ctx, a1, a2, a3)
	end(sp, err)
	return err
}

func (s tracedStore) Consent(ctx context.Context, a1 string, a2 string, a3 string) (storage.Consent, error) {
	ctx, sp := s.t.Start(ctx, "store.Consent")
	r0, err := s.Store.Consent(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) ConsentsByCitizen(ctx context.Context, a1 string) ([]storage.Consent, error) {
	ctx, sp := s.t.Start(ctx, "store.ConsentsByCitizen")
	r0, err := s.Store.ConsentsByCitizen(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) AuthRequestByCode(ctx context.Context, a1 string, a2 string, a3 time.Time) (storage.AuthRequest, error) {
	ctx, sp := s.t.Start(ctx, "store.AuthRequestByCode")
	r0, err := s.Store.AuthRequestByCode(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) ConsumeAuthCode(ctx context.Context, a1 string, a2 string, a3 time.Time) (storage.AuthRequest, error) {
	ctx, sp := s.t.Start(ctx, "store.ConsumeAuthCode")
	r0, err := s.Store.ConsumeAuthCode(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) CountAdmins(ctx context.Context) (int, error) {
	ctx, sp := s.t.Start(ctx, "store.CountAdmins")
	r0, err := s.Store.CountAdmins(ctx)
	end(sp, err)
	return r0, err
}

func (s tracedStore) CountCitizens(ctx context.Context) (int, error) {
	ctx, sp := s.t.Start(ctx, "store.CountCitizens")
	r0, err := s.Store.CountCitizens(ctx)
	end(sp, err)
	return r0, err
}

func (s tracedStore) CreateAdmin(ctx context.Context, a1 storage.Admin, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateAdmin")
	err := s.Store.CreateAdmin(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateAdminToken(ctx context.Context, a1 storage.AdminToken, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateAdminToken")
	err := s.Store.CreateAdminToken(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateAgency(ctx context.Context, a1 storage.Agency, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateAgency")
	err := s.Store.CreateAgency(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateApplication(ctx context.Context, a1 storage.Application, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateApplication")
	err := s.Store.CreateApplication(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateAuthRequest(ctx context.Context, a1 storage.AuthRequest) error {
	ctx, sp := s.t.Start(ctx, "store.CreateAuthRequest")
	err := s.Store.CreateAuthRequest(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) CreateAuthenticator(ctx context.Context, a1 storage.Authenticator, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateAuthenticator")
	err := s.Store.CreateAuthenticator(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateClient(ctx context.Context, a1 storage.Client, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateClient")
	err := s.Store.CreateClient(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateDecision(ctx context.Context, a1 storage.Decision, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateDecision")
	err := s.Store.CreateDecision(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateFlow(ctx context.Context, a1 storage.Flow) error {
	ctx, sp := s.t.Start(ctx, "store.CreateFlow")
	err := s.Store.CreateFlow(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) CreateLogKey(ctx context.Context, a1 storage.LogKey) error {
	ctx, sp := s.t.Start(ctx, "store.CreateLogKey")
	err := s.Store.CreateLogKey(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) CreatePermit(ctx context.Context, a1 storage.Permit) error {
	ctx, sp := s.t.Start(ctx, "store.CreatePermit")
	err := s.Store.CreatePermit(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) CreateProofing(ctx context.Context, a1 storage.Proofing, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateProofing")
	err := s.Store.CreateProofing(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateSession(ctx context.Context, a1 storage.Session, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.CreateSession")
	err := s.Store.CreateSession(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) CreateSigningKey(ctx context.Context, a1 storage.SigningKey) error {
	ctx, sp := s.t.Start(ctx, "store.CreateSigningKey")
	err := s.Store.CreateSigningKey(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) Decisions(ctx context.Context, a1 string) ([]storage.Decision, error) {
	ctx, sp := s.t.Start(ctx, "store.Decisions")
	r0, err := s.Store.Decisions(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) DeleteAuthRequest(ctx context.Context, a1 string) error {
	ctx, sp := s.t.Start(ctx, "store.DeleteAuthRequest")
	err := s.Store.DeleteAuthRequest(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) DeleteClient(ctx context.Context, a1 string, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.DeleteClient")
	err := s.Store.DeleteClient(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) DeleteExpired(ctx context.Context, a1 time.Time) (int64, error) {
	ctx, sp := s.t.Start(ctx, "store.DeleteExpired")
	r0, err := s.Store.DeleteExpired(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) DeleteFlow(ctx context.Context, a1 string) error {
	ctx, sp := s.t.Start(ctx, "store.DeleteFlow")
	err := s.Store.DeleteFlow(ctx, a1)
	end(sp, err)
	return err
}

func (s tracedStore) DeleteSession(ctx context.Context, a1 string, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.DeleteSession")
	err := s.Store.DeleteSession(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) DueDecisions(ctx context.Context, a1 time.Time) ([]storage.Decision, error) {
	ctx, sp := s.t.Start(ctx, "store.DueDecisions")
	r0, err := s.Store.DueDecisions(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) FailAuthRequest(ctx context.Context, a1 string, a2 string, a3 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.FailAuthRequest")
	err := s.Store.FailAuthRequest(ctx, a1, a2, a3)
	end(sp, err)
	return err
}

func (s tracedStore) Flow(ctx context.Context, a1 string, a2 time.Time) (storage.Flow, error) {
	ctx, sp := s.t.Start(ctx, "store.Flow")
	r0, err := s.Store.Flow(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) FlowByNonce(ctx context.Context, a1 string, a2 time.Time) (storage.Flow, error) {
	ctx, sp := s.t.Start(ctx, "store.FlowByNonce")
	r0, err := s.Store.FlowByNonce(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) RedeemAuthCode(ctx context.Context, a1, a2 string, a3 time.Time, a4 func(storage.AuthRequest) (storage.Issuance, error)) (storage.AuthRequest, error) {
	ctx, sp := s.t.Start(ctx, "store.RedeemAuthCode")
	r0, err := s.Store.RedeemAuthCode(ctx, a1, a2, a3, a4)
	end(sp, err)
	return r0, err
}

func (s tracedStore) SignIn(ctx context.Context, a1 storage.SignIn, a2 time.Time, a3 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.SignIn")
	err := s.Store.SignIn(ctx, a1, a2, a3)
	end(sp, err)
	return err
}

func (s tracedStore) AttemptSignIn(ctx context.Context, a1 storage.SignInAttempt, a2 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.AttemptSignIn")
	err := s.Store.AttemptSignIn(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) GiveConsent(ctx context.Context, a1 storage.Consent, a2 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.GiveConsent")
	err := s.Store.GiveConsent(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) IntegrateLog(ctx context.Context, a1 int, a2 func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error)) (int, error) {
	ctx, sp := s.t.Start(ctx, "store.IntegrateLog")
	r0, err := s.Store.IntegrateLog(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) IssueTokens(ctx context.Context, a1 storage.Grant, a2 storage.AccessToken, a3 *storage.RefreshToken, a4 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.IssueTokens")
	err := s.Store.IssueTokens(ctx, a1, a2, a3, a4)
	end(sp, err)
	return err
}

func (s tracedStore) LatestProofing(ctx context.Context, a1 string) (storage.Proofing, error) {
	ctx, sp := s.t.Start(ctx, "store.LatestProofing")
	r0, err := s.Store.LatestProofing(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) LogEntries(ctx context.Context, a1 int64, a2 int64) ([]storage.LogEntry, error) {
	ctx, sp := s.t.Start(ctx, "store.LogEntries")
	r0, err := s.Store.LogEntries(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) LogEntry(ctx context.Context, a1 string) (storage.LogEntry, error) {
	ctx, sp := s.t.Start(ctx, "store.LogEntry")
	r0, err := s.Store.LogEntry(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) LogHead(ctx context.Context) (storage.LogHead, error) {
	ctx, sp := s.t.Start(ctx, "store.LogHead")
	r0, err := s.Store.LogHead(ctx)
	end(sp, err)
	return r0, err
}

func (s tracedStore) LogHeads(ctx context.Context, a1 int64, a2 int) ([]storage.LogHead, error) {
	ctx, sp := s.t.Start(ctx, "store.LogHeads")
	r0, err := s.Store.LogHeads(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) LogKey(ctx context.Context, a1 string) (storage.LogKey, error) {
	ctx, sp := s.t.Start(ctx, "store.LogKey")
	r0, err := s.Store.LogKey(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) LogNodes(ctx context.Context, a1 []storage.LogNodeID) ([][]byte, error) {
	ctx, sp := s.t.Start(ctx, "store.LogNodes")
	r0, err := s.Store.LogNodes(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Permit(ctx context.Context, a1 string) (storage.Permit, error) {
	ctx, sp := s.t.Start(ctx, "store.Permit")
	r0, err := s.Store.Permit(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Permits(ctx context.Context, a1 string) ([]storage.Permit, error) {
	ctx, sp := s.t.Start(ctx, "store.Permits")
	r0, err := s.Store.Permits(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Ping(ctx context.Context) error {
	ctx, sp := s.t.Start(ctx, "store.Ping")
	err := s.Store.Ping(ctx)
	end(sp, err)
	return err
}

func (s tracedStore) RecordFailure(ctx context.Context, a1 string, a2 time.Time, a3 func(storage.Throttle) storage.Throttle) (storage.Throttle, error) {
	ctx, sp := s.t.Start(ctx, "store.RecordFailure")
	r0, err := s.Store.RecordFailure(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) RedactLogEntries(ctx context.Context, a1 time.Time, a2 int) (int, error) {
	ctx, sp := s.t.Start(ctx, "store.RedactLogEntries")
	r0, err := s.Store.RedactLogEntries(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) RefreshToken(ctx context.Context, a1 string, a2 time.Time) (storage.TokenInfo, error) {
	ctx, sp := s.t.Start(ctx, "store.RefreshToken")
	r0, err := s.Store.RefreshToken(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) RetireSigningKey(ctx context.Context, a1 string, a2 time.Time, a3 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.RetireSigningKey")
	err := s.Store.RetireSigningKey(ctx, a1, a2, a3)
	end(sp, err)
	return err
}

func (s tracedStore) Revocations(ctx context.Context, a1 int64) ([]storage.Revocation, int64, error) {
	ctx, sp := s.t.Start(ctx, "store.Revocations")
	r0, r1, err := s.Store.Revocations(ctx, a1)
	end(sp, err)
	return r0, r1, err
}

func (s tracedStore) RevokeAccessToken(ctx context.Context, a1 string, a2 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.RevokeAccessToken")
	err := s.Store.RevokeAccessToken(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) RevokeAdminToken(ctx context.Context, a1 string, a2 string, a3 string, a4 time.Time) (storage.AdminToken, error) {
	ctx, sp := s.t.Start(ctx, "store.RevokeAdminToken")
	r0, err := s.Store.RevokeAdminToken(ctx, a1, a2, a3, a4)
	end(sp, err)
	return r0, err
}

func (s tracedStore) RevokeGrant(ctx context.Context, a1 string, a2 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.RevokeGrant")
	err := s.Store.RevokeGrant(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) RevokeGrants(ctx context.Context, a1 storage.GrantFilter, a2 time.Time) (int64, error) {
	ctx, sp := s.t.Start(ctx, "store.RevokeGrants")
	r0, err := s.Store.RevokeGrants(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) RotateRefreshToken(ctx context.Context, a1 string, a2 storage.AccessToken, a3 storage.RefreshToken, a4 time.Time, a5 storage.Record) (storage.Grant, error) {
	ctx, sp := s.t.Start(ctx, "store.RotateRefreshToken")
	r0, err := s.Store.RotateRefreshToken(ctx, a1, a2, a3, a4, a5)
	end(sp, err)
	return r0, err
}

func (s tracedStore) SaveAuthCode(ctx context.Context, a1 string, a2 string, a3 time.Time, a4 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.SaveAuthCode")
	err := s.Store.SaveAuthCode(ctx, a1, a2, a3, a4)
	end(sp, err)
	return err
}

func (s tracedStore) Session(ctx context.Context, a1 string, a2 time.Time) (storage.Session, error) {
	ctx, sp := s.t.Start(ctx, "store.Session")
	r0, err := s.Store.Session(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) SessionsBySubject(ctx context.Context, a1 string, a2 time.Time) ([]storage.Session, error) {
	ctx, sp := s.t.Start(ctx, "store.SessionsBySubject")
	r0, err := s.Store.SessionsBySubject(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) SigningKeys(ctx context.Context, a1 time.Time) ([]storage.SigningKey, error) {
	ctx, sp := s.t.Start(ctx, "store.SigningKeys")
	r0, err := s.Store.SigningKeys(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Throttle(ctx context.Context, a1 string, a2 time.Time) (storage.Throttle, error) {
	ctx, sp := s.t.Start(ctx, "store.Throttle")
	r0, err := s.Store.Throttle(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) Throttles(ctx context.Context, a1 []string, a2 time.Time) ([]storage.Throttle, error) {
	ctx, sp := s.t.Start(ctx, "store.Throttles")
	r0, err := s.Store.Throttles(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) TouchAuthenticator(ctx context.Context, a1 string, a2 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.TouchAuthenticator")
	err := s.Store.TouchAuthenticator(ctx, a1, a2)
	end(sp, err)
	return err
}

func (s tracedStore) TouchSession(ctx context.Context, a1 string, a2 time.Time, a3 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.TouchSession")
	err := s.Store.TouchSession(ctx, a1, a2, a3)
	end(sp, err)
	return err
}

func (s tracedStore) UpdateAdmin(ctx context.Context, a1 string, a2 func(storage.Admin) (storage.Admin, error), a3 storage.Record) (storage.Admin, error) {
	ctx, sp := s.t.Start(ctx, "store.UpdateAdmin")
	r0, err := s.Store.UpdateAdmin(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) UpdateAgency(ctx context.Context, a1 string, a2 func(storage.Agency) (storage.Agency, error)) (storage.Agency, error) {
	ctx, sp := s.t.Start(ctx, "store.UpdateAgency")
	r0, err := s.Store.UpdateAgency(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) UpdateClient(ctx context.Context, a1 string, a2 func(storage.Client) (storage.Client, error), a3 storage.Record) (storage.Client, error) {
	ctx, sp := s.t.Start(ctx, "store.UpdateClient")
	r0, err := s.Store.UpdateClient(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) UpdateFlow(ctx context.Context, a1 string, a2 time.Time, a3 func(storage.Flow) (storage.Flow, error)) (storage.Flow, error) {
	ctx, sp := s.t.Start(ctx, "store.UpdateFlow")
	r0, err := s.Store.UpdateFlow(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) UpdatePermit(ctx context.Context, a1 string, a2 func(storage.Permit) (storage.Permit, error)) (storage.Permit, error) {
	ctx, sp := s.t.Start(ctx, "store.UpdatePermit")
	r0, err := s.Store.UpdatePermit(ctx, a1, a2)
	end(sp, err)
	return r0, err
}

func (s tracedStore) UpsertCitizens(ctx context.Context, a1 []storage.Citizen) (storage.UpsertResult, error) {
	ctx, sp := s.t.Start(ctx, "store.UpsertCitizens")
	r0, err := s.Store.UpsertCitizens(ctx, a1)
	end(sp, err)
	return r0, err
}

func (s tracedStore) UseOnce(ctx context.Context, a1 string, a2 string, a3 time.Time, a4 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.UseOnce")
	err := s.Store.UseOnce(ctx, a1, a2, a3, a4)
	end(sp, err)
	return err
}

func (s tracedStore) UseRecoveryCode(ctx context.Context, a1 string, a2 string, a3 string, a4 time.Time) error {
	ctx, sp := s.t.Start(ctx, "store.UseRecoveryCode")
	err := s.Store.UseRecoveryCode(ctx, a1, a2, a3, a4)
	end(sp, err)
	return err
}

func (s tracedStore) WithdrawConsent(ctx context.Context, a1 string, a2 string, a3 time.Time, a4 storage.Record) (storage.Consent, error) {
	ctx, sp := s.t.Start(ctx, "store.WithdrawConsent")
	r0, err := s.Store.WithdrawConsent(ctx, a1, a2, a3, a4)
	end(sp, err)
	return r0, err
}

func (s tracedStore) ClaimLogouts(ctx context.Context, a1 time.Time, a2 time.Duration, a3 int) ([]storage.LogoutDelivery, error) {
	ctx, sp := s.t.Start(ctx, "store.ClaimLogouts")
	r0, err := s.Store.ClaimLogouts(ctx, a1, a2, a3)
	end(sp, err)
	return r0, err
}

func (s tracedStore) RetryLogout(ctx context.Context, a1 string, a2 time.Time, a3 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.RetryLogout")
	err := s.Store.RetryLogout(ctx, a1, a2, a3)
	end(sp, err)
	return err
}

func (s tracedStore) FinishLogout(ctx context.Context, a1 string, a2 string, a3 time.Time, a4 storage.Record) error {
	ctx, sp := s.t.Start(ctx, "store.FinishLogout")
	err := s.Store.FinishLogout(ctx, a1, a2, a3, a4)
	end(sp, err)
	return err
}

func (s tracedStore) LogoutOutcome(ctx context.Context, a1 string) (string, error) {
	ctx, sp := s.t.Start(ctx, "store.LogoutOutcome")
	r0, err := s.Store.LogoutOutcome(ctx, a1)
	end(sp, err)
	return r0, err
}
