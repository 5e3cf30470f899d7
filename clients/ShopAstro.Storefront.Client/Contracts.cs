using System.Text.Json;
using System.Text.Json.Serialization;

namespace ShopAstro.Storefront.Client;

// The wire format of the edge API contract (api-contract.md, version 1). Members the edge adds beyond the
// contract are ignored when reading, so a newer edge does not break an older storefront.

/// <summary>The answer of <c>GET .../subjects/{subjectId}/decisions</c>: one decision per purpose asked.</summary>
public sealed record ConsentDecisions(string StoreId, string SubjectId, int? PolicyVersion, IReadOnlyList<ConsentDecision> Decisions)
{
    /// <summary>True when the edge could not be asked and these are the client's fail-closed decisions.</summary>
    [JsonIgnore]
    public bool Unavailable { get; init; }

    /// <summary>Whether the purpose is allowed. A purpose that was not asked is not allowed.</summary>
    public bool IsAllowed(string purpose) => Find(purpose)?.Allowed == true;

    /// <summary>The reason code of the purpose's decision; <see cref="ConsentReasons.NotChecked"/> for a purpose not asked.</summary>
    public string ReasonFor(string purpose) => Find(purpose)?.Reason ?? ConsentReasons.NotChecked;

    public ConsentDecision? Find(string purpose)
    {
        foreach (var decision in Decisions)
        {
            if (string.Equals(decision.Purpose, purpose, StringComparison.Ordinal))
            {
                return decision;
            }
        }

        return null;
    }
}

public sealed record ConsentDecision(
    string Purpose,
    bool Allowed,
    string Reason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<DecisionTraceStep>? Trace = null);

/// <summary>One rule of the precedence table as tried for a decision (<c>explain=true</c>).</summary>
public sealed record DecisionTraceStep(int Rule, string Description, bool Applied);

/// <summary>One (subject, purpose) pair of a batch.</summary>
public sealed record BatchDecisionItem(string SubjectId, string Purpose);

public sealed record BatchDecisionRequest(IReadOnlyList<BatchDecisionItem> Items, PrivacySignals Signals);

public sealed record BatchDecisionResult(string SubjectId, string Purpose, bool Allowed, string Reason);

public sealed record BatchDecisionResponse(IReadOnlyList<BatchDecisionResult> Results);

public sealed record ConsentWriteRequest(IReadOnlyDictionary<string, bool> Purposes, int PolicyVersion, string Source);

/// <summary>A shopper's record at a store (access request). <c>status</c>: active, minor, cancelled, erased.</summary>
public sealed record SubjectRecord(
    string StoreId,
    string SubjectId,
    string Status,
    IReadOnlyDictionary<string, ConsentStatus> Consents,
    IReadOnlyList<ConsentReceipt> Receipts);

/// <summary>The latest choice for one purpose.</summary>
public sealed record ConsentStatus(bool Granted, int PolicyVersion, DateTimeOffset At, string Source);

/// <summary>
/// One recorded choice (<paramref name="Event"/> <c>consent</c>): the proof of consent, with the signals present when it
/// was given; or a status change that says why consents went or came (<c>minor_set</c>, <c>minor_lifted</c>,
/// <c>cancelled</c>, <c>erased</c>, <c>linked</c>), whose choice fields are then empty.
/// </summary>
public sealed record ConsentReceipt(
    string ReceiptId, string Purpose, bool Granted, int PolicyVersion, string Source, bool Dnt, bool Gpc, DateTimeOffset At,
    string Event = "consent");

public sealed record AgeRequest(bool Minor);

public sealed record LinkRequest(string AnonymousId);

/// <summary>A store's current policy. <c>status</c>: active or suspended.</summary>
public sealed record StorePolicy(
    string StoreId,
    int Version,
    string Status,
    bool SellerAttestation,
    IReadOnlyDictionary<string, PurposeSetting> Purposes,
    DateTimeOffset? PublishedAt = null)
{
    /// <summary>The consent-based purposes the store uses: what a banner asks the shopper about.</summary>
    public IReadOnlyList<string> ConsentPurposesInUse() =>
        ConsentPurposes.ConsentBased.Where(p => Purposes.TryGetValue(p, out var setting) && setting.Enabled).ToArray();
}

public sealed record PurposeSetting(bool Enabled, bool MaterialChange);

/// <summary>RFC 9457 problem details with the edge's stable <c>code</c>.</summary>
internal sealed record ProblemBody(string? Type, string? Title, int? Status, string? Detail, string? Code);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ConsentDecisions))]
[JsonSerializable(typeof(BatchDecisionRequest))]
[JsonSerializable(typeof(BatchDecisionResponse))]
[JsonSerializable(typeof(ConsentWriteRequest))]
[JsonSerializable(typeof(SubjectRecord))]
[JsonSerializable(typeof(AgeRequest))]
[JsonSerializable(typeof(LinkRequest))]
[JsonSerializable(typeof(StorePolicy))]
[JsonSerializable(typeof(ProblemBody))]
internal sealed partial class ConsentJsonContext : JsonSerializerContext;
