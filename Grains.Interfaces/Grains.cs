using Orleans.Concurrency;
using ShopAstro.Coherence;

namespace ShopAstro.Grains.Interfaces;

/// <summary>One store: its versioned policy, and the leases through which subjects hold it.</summary>
[Alias("shopastro.IStoreGrain")]
public interface IStoreGrain : IGrainWithStringKey
{
    /// <summary>Publishes a new version; completes only after every lease holder has the new policy or its lease has run out.</summary>
    [Alias("PublishPolicy")]
    Task<PolicyPublishResult> PublishPolicy(PolicyUpdate update);

    /// <summary>The version in force and those scheduled after it.</summary>
    [Alias("GetPolicyView"), ReadOnly]
    Task<PolicyView> GetPolicyView();

    /// <summary>A draft version checked as a publish would check it (but for its timing), with the version in force.</summary>
    [Alias("DraftPolicy"), ReadOnly]
    Task<PolicyDraft> DraftPolicy(PolicyUpdate update);

    /// <summary>Withdraws a scheduled version, and every version scheduled after it (they were built on it).</summary>
    [Alias("CancelScheduledPolicy")]
    Task<PolicyCancelStatus> CancelScheduledPolicy(int version);

    /// <summary>Interleaves so that subjects activating during a publish never wait on it.</summary>
    /// <param name="present">The subject has a stored record: the store's subject index must name it.</param>
    /// <param name="held">The version the subject holds: if it is still the one in force, the lease does not carry it.</param>
    [Alias("AcquirePolicyLease"), AlwaysInterleave]
    Task<PolicyLease> AcquirePolicyLease(string subjectId, bool present, PolicyStamp? held);

    /// <summary>
    /// The store's policy and the subjects that have a record, for an edge to decide every other subject of the
    /// store itself (as one with no record) until the lease runs out. With <paramref name="epoch"/> and
    /// <paramref name="since"/> of the lease the edge holds, only the subjects added since.
    /// </summary>
    [Alias("LeaseAbsence"), AlwaysInterleave, ResponseTimeout(CallTimeouts.Check)]
    Task<AbsenceLease> LeaseAbsence(IDecisionLeaseHolder holder, Guid epoch, int since);

    /// <summary>
    /// A subject's record was written: the index names it, and every edge holding an absence lease of the store
    /// knows before this completes; with <paramref name="restrictive"/> (the record denies something an empty one
    /// allows), an edge that could not be told has let its absence lease run out by then. Returns how long from
    /// now an edge that could not be told may still decide the subject as one without a record.
    /// </summary>
    [Alias("MarkPresent"), AlwaysInterleave, ResponseTimeout(CallTimeouts.Write)]
    Task<TimeSpan> MarkPresent(string subjectId, bool restrictive);

    /// <summary>Adds counters gathered by a silo over its last flush period, then tells the live feed.</summary>
    [Alias("MergeStats")]
    Task MergeStats(Dictionary<Purpose, PurposeStats> delta);

    [Alias("GetStats"), ReadOnly]
    Task<StoreStats> GetStats();
}

/// <summary>Impact previews of draft policy versions (key: store id).</summary>
[Alias("shopastro.IPolicyImpactGrain")]
public interface IPolicyImpactGrain : IGrainWithStringKey
{
    /// <summary>Reads every stored record of the store once: seconds for a million subjects.</summary>
    [Alias("Measure"), ResponseTimeout("00:10:00")]
    Task<PolicyImpact> Measure(StorePolicy? current, StorePolicy draft);
}

/// <summary>
/// Per-call limits on the hot path: a call caught on a silo that has just died fails within these (and the
/// edge answers 503) instead of after Orleans' 30 s default.
/// </summary>
public static class CallTimeouts
{
    public const string Check = "00:00:02";
    public const string Write = "00:00:10";

    /// <summary>
    /// A batch of lease requests (<see cref="IDecisionLeaseBatchGrain"/>): a second more than each subject call it makes
    /// (<see cref="Check"/>), for its own two hops and the queue of the silo it reaches. When it runs out, every request
    /// in it fails (503), as each would have after its own <see cref="Check"/>.
    /// </summary>
    public const string LeaseBatch = "00:00:03";
}

/// <summary>One shopper at one store (key: <see cref="SubjectKey"/>).</summary>
[Alias("shopastro.ISubjectGrain")]
public interface ISubjectGrain : IGrainWithStringKey
{
    /// <summary>
    /// Answers from memory; never touches storage. Interleaves, as <see cref="LeaseDecisions"/> does: it waits for a
    /// change only while that change stores and revokes, never while it waits for an unreachable edge's lease to run out.
    /// </summary>
    [Alias("Decide"), AlwaysInterleave, ResponseTimeout(CallTimeouts.Check)]
    ValueTask<DecisionSet> Decide(Purpose[] purposes, RequestSignals signals);

    /// <summary>
    /// The subject's decision inputs for <paramref name="holder"/> to cache (its policy comes from the store's lease);
    /// the grain revokes them before it acknowledges a change. Never touches storage once active. Interleaves with a
    /// change that is only waiting for an unreachable edge's lease to run out.
    /// </summary>
    [Alias("LeaseDecisions"), AlwaysInterleave, ResponseTimeout(CallTimeouts.Check)]
    ValueTask<DecisionLease> LeaseDecisions(IDecisionLeaseHolder holder);

    /// <summary>Completes only after the change is durable.</summary>
    [Alias("SetConsents"), ResponseTimeout(CallTimeouts.Write)]
    Task<ConsentWriteResult> SetConsents(ConsentUpdate update);

    /// <summary>The stored record, or null for a subject never written. Interleaves as <see cref="Decide"/> does.</summary>
    [Alias("GetRecord"), AlwaysInterleave, ResponseTimeout(CallTimeouts.Check)]
    Task<SubjectRecord?> GetRecord();

    /// <summary>The decisions with their rule traces (policy clause 4(4)). Interleaves as <see cref="Decide"/> does.</summary>
    [Alias("Explain"), AlwaysInterleave, ResponseTimeout(CallTimeouts.Check)]
    Task<ExplainedSet> Explain(Purpose[] purposes, RequestSignals signals);

    /// <summary>Deletion (§4(2)): the data is removed, receipts kept only anonymised. The shopper may consent again.</summary>
    [Alias("Erase"), ResponseTimeout(CallTimeouts.Write)]
    Task Erase();

    /// <summary>Account cancellation (§4(3)): irreversible; data removed as for deletion, later writes refused.</summary>
    [Alias("Cancel"), ResponseTimeout(CallTimeouts.Write)]
    Task Cancel();

    /// <summary>§6: a minor's data is removed and every check but necessary answers minor.</summary>
    [Alias("SetMinor"), ResponseTimeout(CallTimeouts.Write)]
    Task<ConsentWriteStatus> SetMinor(bool minor);

    /// <summary>Carries an anonymous visitor's choices over where this account has none, then deletes the visitor.</summary>
    [Alias("Link"), ResponseTimeout(CallTimeouts.Write)]
    Task<ConsentWriteResult> Link(string anonymousSubjectId);

    /// <summary>
    /// Called by the account this anonymous subject is linked to: in one turn, hands over the record and
    /// removes it, so that no choice made meanwhile can be carried over stale or lost.
    /// </summary>
    [Alias("TakeForLink"), ResponseTimeout(CallTimeouts.Write)]
    Task<SubjectRecord?> TakeForLink(string accountSubjectId);

    /// <summary>
    /// Pushed by the store grain; completes once later checks see <paramref name="policy"/>. Interleaves: a publish is
    /// not held up by a change of this subject that waits for an unreachable edge (it would time out, and the publish
    /// would then wait for this subject's policy lease to run out).
    /// </summary>
    [Alias("OnPolicyChanged"), AlwaysInterleave]
    Task OnPolicyChanged(StorePolicy policy);
}

/// <summary>
/// Receipts of erased subjects, kept as proof of consent under a keyed, irreversible token instead of the
/// subject id (key: <c>{storeId}/{token}</c>).
/// </summary>
[Alias("shopastro.IReceiptArchiveGrain")]
public interface IReceiptArchiveGrain : IGrainWithStringKey
{
    /// <summary>Idempotent by receipt id, so that a retried erasure never duplicates a receipt.</summary>
    [Alias("Archive")]
    Task Archive(ConsentReceipt[] receipts);

    [Alias("GetReceipts"), ReadOnly]
    Task<ConsentReceipt[]> GetReceipts();
}

/// <summary>Readiness of the cluster and its storage, for <c>/health/ready</c>; the calendar's coverage, for <c>/health</c>.</summary>
[Alias("shopastro.IClusterHealthGrain")]
public interface IClusterHealthGrain : IGrainWithIntegerKey
{
    [Alias("CheckStorage")]
    Task CheckStorage();

    /// <summary>The last day the silo's working-day calendar covers (null: none); later due dates are refused or provisional.</summary>
    [Alias("CalendarCoveredUntil")]
    Task<DateOnly?> CalendarCoveredUntil();
}
