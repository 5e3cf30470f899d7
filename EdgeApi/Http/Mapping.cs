using System.Collections.Immutable;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Http;

/// <summary>From the cluster's model to the contract's wire format.</summary>
public static class Mapping
{
    public static DecisionItem ToItem(this Decision decision) =>
        new(decision.Purpose.ToId(), decision.Allowed, decision.Reason.ToCode());

    public static SubjectRecordResponse ToResponse(this SubjectRecord record, string storeId, string subjectId)
    {
        var broken = ReceiptChain.FirstBroken(record.Receipts);
        return new SubjectRecordResponse(
            storeId,
            subjectId,
            record.Status.ToId(),
            record.Consents.OrderBy(c => c.Key).ToDictionary(
                c => c.Key.ToId(),
                c => new ConsentState(c.Value.Granted, c.Value.PolicyVersion, c.Value.At.UtcDateTime, c.Value.Source.ToId(), c.Value.Dnt, c.Value.Gpc)),
            record.Receipts.Select(ToResponse).ToList(),
            new ReceiptChainResponse(ReceiptChainAlgorithm, ReceiptChain.Genesis, broken is null, broken));
    }

    private static ReceiptResponse ToResponse(ConsentReceipt r) => r.Event == ReceiptEvent.Consent
        ? new(r.ReceiptId, r.Event.ToId(), r.Purpose.ToId(), r.Granted, r.PolicyVersion, r.Source.ToId(), r.Dnt, r.Gpc, r.At.UtcDateTime,
            r.LinkedFrom, r.LinkedFromNonce, r.PreviousHash, r.Hash)
        : new(r.ReceiptId, r.Event.ToId(), null, null, null, null, null, null, r.At.UtcDateTime,
            r.LinkedFrom, r.LinkedFromNonce, r.PreviousHash, r.Hash);

    public static DataSubjectRequestResponse ToResponse(this DataSubjectRequest request, DateTimeOffset now) => new(
        request.Id,
        request.SubjectId,
        request.Type.ToId(),
        request.Status switch { RequestStatus.Open => "open", RequestStatus.Completed => "completed", _ => "rejected" },
        request.IsOverdue(now),
        request.ReceivedAt.UtcDateTime,
        request.DueAt.UtcDateTime,
        request.Status == RequestStatus.Completed ? request.CompletedAt?.UtcDateTime : null,
        request.DueAtProvisional,
        request.RepeatOf is not null,
        request.RepeatOf,
        request.Verification is { } verified ? new IdentityVerificationResponse(verified.Method.ToId(), verified.VerifiedAt.UtcDateTime) : null,
        request.Status == RequestStatus.Rejected ? request.CompletedAt?.UtcDateTime : null,
        request.RejectionGround?.ToId());

    public static StatsResponse ToResponse(this StoreStats stats, string storeId)
    {
        var total = stats.Purposes.Values.Aggregate(default(PurposeStats), (sum, next) => sum.Add(next));
        return new StatsResponse(
            storeId,
            stats.At == default ? null : stats.At.UtcDateTime,
            total.Checks,
            total.Grants,
            total.Withdrawals,
            Purposes.All.Where(p => p.IsConsentBased() || stats.Purposes.ContainsKey(p)).ToDictionary(
                p => p.ToId(),
                p => stats.Purposes.GetValueOrDefault(p).ToResponse()));
    }

    public static PurposeStatsResponse ToResponse(this PurposeStats s) =>
        new(s.Checks, s.Allowed, s.Grants, s.Withdrawals, s.Granted, s.Withdrawn, s.OptInRate);

    /// <summary>Documents the canonical form that <see cref="ReceiptChain"/> hashes.</summary>
    public const string ReceiptChainAlgorithm =
        "sha256(previousHash|receiptId|purpose|granted(1/0)|policyVersion|source|dnt(1/0)|gpc(1/0)|at(unix ms)|linked) for event consent, "
        + "sha256(previousHash|receiptId|event|at(unix ms)|linked) for any other event; linked: empty without linkedFrom, else "
        + "sha256(linkedFromNonce|linkedFrom) (without a linkedFromNonce: linkedFrom); lower-case hex";

    public static DecisionItem ToItem(this ExplainedDecision explained) =>
        explained.Decision.ToItem() with
        {
            Trace = explained.Trace.Select(step => new TraceStep(step.Rule, step.Description, step.Applied)).ToArray(),
        };

    public static PolicyResponse ToResponse(this StorePolicy policy, string storeId, IEnumerable<StorePolicy>? upcoming = null) => new(
        storeId,
        policy.Version,
        policy.Status.ToId(),
        policy.SellerAttestation,
        policy.PurposesResponse(),
        policy.PublishedAt.UtcDateTime,
        policy.InForceFrom.UtcDateTime,
        [.. (upcoming ?? []).Select(version => version.ToScheduledResponse(storeId))]);

    public static ScheduledPolicyResponse ToScheduledResponse(this StorePolicy policy, string storeId) => new(
        storeId,
        policy.Version,
        policy.Status.ToId(),
        policy.SellerAttestation,
        policy.PurposesResponse(),
        policy.PublishedAt.UtcDateTime,
        policy.InForceFrom.UtcDateTime);

    public static PolicyPreviewResponse ToResponse(this PolicyImpact impact, string storeId, StorePolicy? current, StorePolicy draft) => new(
        storeId,
        current?.Version,
        draft.ToScheduledResponse(storeId),
        impact.SubjectsWithRecord,
        impact.Purposes.OrderBy(p => p.Key).ToDictionary(
            p => p.Key.ToId(),
            p => new PurposeImpactResponse(p.Value.NeedReconsent, p.Value.NewlyNeedReconsent, p.Value.LoseGrant)),
        Math.Round(impact.Took.TotalMilliseconds, 1));

    public static string ToId(this StoreStatus status) => status == StoreStatus.Active ? "active" : "suspended";

    private static Dictionary<string, PurposeSettingResponse> PurposesResponse(this StorePolicy policy) =>
        policy.Purposes.OrderBy(p => p.Key).ToDictionary(
            p => p.Key.ToId(),
            p => new PurposeSettingResponse(
                p.Value.Enabled,
                p.Value.MaterialChange,
                policy.MaterialChangeVersions.TryGetValue(p.Key, out var since) ? since : null));

    public static ImmutableDictionary<Purpose, TValue> ToPurposeMap<TValue>(this IEnumerable<KeyValuePair<Purpose, TValue>> pairs) =>
        pairs.ToImmutableDictionary();
}
