using System.Text.Json;
using System.Text.Json.Serialization;

namespace ShopAstro.EdgeApi.Http;

// The wire format of api-contract.md. Times are UTC DateTimes so that they serialise as RFC 3339 with Z.
// Requests use nullable members so that a missing field is a 400
// with a clear message rather than a silent default.

public sealed record DecisionResponse(string StoreId, string SubjectId, int? PolicyVersion, IReadOnlyList<DecisionItem> Decisions);

public sealed record DecisionItem(
    string Purpose,
    bool Allowed,
    string Reason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<TraceStep>? Trace = null);

/// <summary>One rule of policy-rules.md's precedence table as tried for a decision (<c>?explain=true</c>).</summary>
public sealed record TraceStep(int Rule, string Description, bool Applied);

public sealed record BatchRequest(List<BatchItem?>? Items, BatchSignals? Signals);

public sealed record BatchItem(string? SubjectId, string? Purpose);

public sealed record BatchSignals(bool Dnt, bool Gpc);

public sealed record BatchResponse(IReadOnlyList<BatchResult> Results);

public sealed record BatchResult(string SubjectId, string Purpose, bool Allowed, string Reason);

public sealed record ConsentRequest(Dictionary<string, bool>? Purposes, int? PolicyVersion, string? Source);

public sealed record SubjectRecordResponse(
    string StoreId,
    string SubjectId,
    string Status,
    IReadOnlyDictionary<string, ConsentState> Consents,
    IReadOnlyList<ReceiptResponse> Receipts,
    ReceiptChainResponse ReceiptChain);

/// <summary>How to verify the receipts' hash chain, and whether it verifies now.</summary>
public sealed record ReceiptChainResponse(string Algorithm, string Genesis, bool Valid, int? FirstBrokenIndex);

public sealed record ConsentState(bool Granted, int PolicyVersion, DateTime At, string Source, bool Dnt, bool Gpc);

/// <summary>
/// One receipt: a consent choice (<c>event</c> <c>consent</c>, with its purpose, choice and signals) or a status change
/// (<c>minor_set</c>, <c>minor_lifted</c>, <c>cancelled</c>, <c>erased</c>, <c>linked</c>) that says why consents went or
/// came, without them.
/// </summary>
public sealed record ReceiptResponse(
    string ReceiptId,
    string Event,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Purpose,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? Granted,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? PolicyVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Source,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? Dnt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? Gpc,
    DateTime At,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? LinkedFrom,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? LinkedFromNonce,
    string PreviousHash,
    string Hash);

public sealed record AgeRequest(bool? Minor);

/// <param name="ReceivedAt">RFC 3339 with an offset (Z or ±hh:mm); a local time without one is ambiguous and refused.</param>
/// <param name="IdentityVerification">How and when the requester was verified, when that happened before registration.</param>
public sealed record DataSubjectRequestBody(string? SubjectId, string? Type, string? ReceivedAt, IdentityVerificationBody? IdentityVerification = null);

/// <param name="Method">account_login, sms_code, email_code, id_document or other.</param>
/// <param name="VerifiedAt">RFC 3339 with an offset; absent: now.</param>
public sealed record IdentityVerificationBody(string? Method, string? VerifiedAt);

/// <param name="Ground">One of the grounds of §4(5) of the privacy policy, e.g. abuse_of_rights.</param>
public sealed record RejectRequestBody(string? Ground);

/// <param name="SubjectId">The subject while the request is open; null once it is completed or rejected (no raw id is kept).</param>
/// <param name="Overdue">Open past <paramref name="DueAt"/>: the seller is flagged live.</param>
/// <param name="DueAtProvisional">The due date runs past the calendar's coverage and counts weekends only (Requests:AllowProvisionalDueDates).</param>
/// <param name="RepeatOf">The earlier request of the same type for the same subject within Requests:RepeatWindow.</param>
public sealed record DataSubjectRequestResponse(
    string Id, string? SubjectId, string Type, string Status, bool Overdue, DateTime ReceivedAt, DateTime DueAt, DateTime? CompletedAt,
    bool DueAtProvisional, bool Repeat, string? RepeatOf, IdentityVerificationResponse? IdentityVerification,
    DateTime? RejectedAt, string? RejectionGround);

public sealed record IdentityVerificationResponse(string Method, DateTime VerifiedAt);

public sealed record DataSubjectRequestList(IReadOnlyList<DataSubjectRequestResponse> Requests);

public sealed record LinkRequest(string? AnonymousId);

/// <param name="EffectiveAt">When the version takes effect (RFC 3339); absent: at once.</param>
public sealed record PolicyRequest(
    int? Version, string? Status, bool? SellerAttestation, Dictionary<string, PurposeSettingRequest?>? Purposes, string? EffectiveAt = null);

public sealed record PurposeSettingRequest(bool? Enabled, bool? MaterialChange);

/// <summary>The policy in force, and the versions scheduled to take effect after it (soonest first).</summary>
/// <param name="EffectiveAt">Since when this version is in force (its publication, unless it was scheduled).</param>
public sealed record PolicyResponse(
    string StoreId,
    int Version,
    string Status,
    bool SellerAttestation,
    IReadOnlyDictionary<string, PurposeSettingResponse> Purposes,
    DateTime PublishedAt,
    DateTime EffectiveAt,
    IReadOnlyList<ScheduledPolicyResponse> Upcoming);

/// <summary>A version published to take effect at <paramref name="EffectiveAt"/>.</summary>
public sealed record ScheduledPolicyResponse(
    string StoreId,
    int Version,
    string Status,
    bool SellerAttestation,
    IReadOnlyDictionary<string, PurposeSettingResponse> Purposes,
    DateTime PublishedAt,
    DateTime EffectiveAt);

/// <param name="ReconsentSinceVersion">Grants given under an older version answer <c>reconsent_required</c>.</param>
public sealed record PurposeSettingResponse(bool Enabled, bool MaterialChange, int? ReconsentSinceVersion);

/// <summary>What publishing <paramref name="Draft"/> would do to the subjects with a stored record; nothing was published.</summary>
/// <param name="CurrentVersion">The version in force it is compared with; null if none.</param>
/// <param name="SubjectsWithRecord">Records read (every subject of the store with a stored record).</param>
/// <param name="DurationMs">How long reading and evaluating them took in the cluster.</param>
public sealed record PolicyPreviewResponse(
    string StoreId,
    int? CurrentVersion,
    ScheduledPolicyResponse Draft,
    long SubjectsWithRecord,
    IReadOnlyDictionary<string, PurposeImpactResponse> Purposes,
    double DurationMs);

/// <param name="NeedReconsent">Would answer <c>reconsent_required</c> under the draft (no browser signals).</param>
/// <param name="NewlyNeedReconsent">Of those, the ones allowed by their grant under the version in force.</param>
/// <param name="LoseGrant">Allowed by their grant now, denied under the draft for another reason (the purpose disabled).</param>
public sealed record PurposeImpactResponse(long NeedReconsent, long NewlyNeedReconsent, long LoseGrant);

public sealed record GpcSupport(bool Gpc, string LastUpdate);

public sealed record StatsResponse(
    string StoreId, DateTime? At, long Checks, long Grants, long Withdrawals, IReadOnlyDictionary<string, PurposeStatsResponse> Purposes);

/// <param name="Granted">Subjects whose latest choice is a grant.</param>
/// <param name="OptInRate">granted / (granted + withdrawn); null while nobody has chosen.</param>
public sealed record PurposeStatsResponse(long Checks, long Allowed, long Grants, long Withdrawals, long Granted, long Withdrawn, double? OptInRate);

// Live feed messages (SignalR hub /hubs/consent): each carries storeId, a per-store increasing sequence, and at.

/// <summary>The stored snapshots of a store's counters in [from, to).</summary>
public sealed record StatsHistoryResponse(string StoreId, DateTime From, DateTime To, IReadOnlyList<StatsSnapshotResponse> Snapshots);

/// <summary>The counters at <c>at</c>: counts since the store's counters began, current choices, opt-in rate.</summary>
public sealed record StatsSnapshotResponse(DateTime At, IReadOnlyDictionary<string, PurposeStatsResponse> Purposes);

/// <summary>Partner-safe counts per purpose and UTC day; cells under <c>minimumGroupSize</c> are null and suppressed.</summary>
public sealed record AggregatesResponse(string StoreId, int MinimumGroupSize, IReadOnlyList<AggregateDayResponse> Days);

public sealed record AggregateDayResponse(string Date, IReadOnlyDictionary<string, AggregatePurposeResponse> Purposes);

public sealed record AggregatePurposeResponse(AggregateCellResponse Grants, AggregateCellResponse Withdrawals, AggregateCellResponse OptedIn);

public sealed record AggregateCellResponse(long? Value, bool Suppressed);

public sealed record SubscribeResult(string StoreId, long Sequence);

public sealed record ConsentChangedMessage(string StoreId, long Sequence, DateTime At, string SubjectId, string Purpose, bool Granted);

public sealed record PolicyChangedMessage(string StoreId, long Sequence, DateTime At, int PolicyVersion, string Status);

/// <param name="Cancelled">The scheduled version was withdrawn and will not take effect.</param>
public sealed record PolicyScheduledMessage(
    string StoreId, long Sequence, DateTime At, int PolicyVersion, string Status, DateTime EffectiveAt, bool Cancelled);

public sealed record StatsChangedMessage(string StoreId, long Sequence, DateTime At, StatsResponse Stats);

public sealed record RequestOverdueMessage(
    string StoreId, long Sequence, DateTime At, string RequestId, string SubjectId, string Type, DateTime DueAt);

public sealed record DownstreamSystemBody(string? Url, string? Secret);

/// <summary>A registered downstream system; its secret is never sent back.</summary>
public sealed record DownstreamSystemResponse(string Id, string Url, DateTime CreatedAt);

public sealed record DownstreamSystemList(IReadOnlyList<DownstreamSystemResponse> Systems);

public sealed record PropagationResponse(string StoreId, IReadOnlyList<PropagationSystem> Systems);

/// <summary>
/// One downstream system: its outbox rows by state; the latency of its latest acknowledgements (null before the first);
/// why its latest unacknowledged delivery attempt failed (null if none did).
/// </summary>
public sealed record PropagationSystem(
    string Id, string Url, long Pending, long Delivered, long Failed, double? OldestPendingAgeSeconds, PropagationLatency? Latency,
    string? LastError);

/// <summary>From the change's commit to the system's 2xx, over the <c>count</c> latest acknowledged events.</summary>
public sealed record PropagationLatency(
    int Count, double LastMs, double MeanMs, double P50Ms, double P99Ms, DateTime LastAcknowledgedAt);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    NumberHandling = JsonNumberHandling.Strict,
    AllowDuplicateProperties = false)]
[JsonSerializable(typeof(DecisionResponse))]
[JsonSerializable(typeof(BatchRequest))]
[JsonSerializable(typeof(BatchResponse))]
[JsonSerializable(typeof(ConsentRequest))]
[JsonSerializable(typeof(SubjectRecordResponse))]
[JsonSerializable(typeof(PolicyRequest))]
[JsonSerializable(typeof(AgeRequest))]
[JsonSerializable(typeof(DataSubjectRequestBody))]
[JsonSerializable(typeof(DataSubjectRequestResponse))]
[JsonSerializable(typeof(DataSubjectRequestList))]
[JsonSerializable(typeof(RejectRequestBody))]
[JsonSerializable(typeof(IdentityVerificationBody))]
[JsonSerializable(typeof(LinkRequest))]
[JsonSerializable(typeof(PolicyResponse))]
[JsonSerializable(typeof(GpcSupport))]
[JsonSerializable(typeof(StatsResponse))]
[JsonSerializable(typeof(StatsHistoryResponse))]
[JsonSerializable(typeof(AggregatesResponse))]
[JsonSerializable(typeof(SubscribeResult))]
[JsonSerializable(typeof(ConsentChangedMessage))]
[JsonSerializable(typeof(PolicyChangedMessage))]
[JsonSerializable(typeof(PolicyScheduledMessage))]
[JsonSerializable(typeof(ScheduledPolicyResponse))]
[JsonSerializable(typeof(PolicyPreviewResponse))]
[JsonSerializable(typeof(StatsChangedMessage))]
[JsonSerializable(typeof(RequestOverdueMessage))]
[JsonSerializable(typeof(DownstreamSystemBody))]
[JsonSerializable(typeof(DownstreamSystemResponse))]
[JsonSerializable(typeof(DownstreamSystemList))]
[JsonSerializable(typeof(PropagationResponse))]
[JsonSerializable(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails))]
public sealed partial class EdgeJsonContext : JsonSerializerContext;
