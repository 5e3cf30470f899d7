using Orleans.Concurrency;
using ShopAstro.Coherence;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// What an edge process needs to decide for one subject without calling its grain, besides the store's policy (which
/// comes from the store's own lease, <see cref="AbsenceLease"/>): the subject's status and choices (no receipts),
/// valid for <see cref="Duration"/> counted from before the edge sent its request, within the edge's registration
/// epoch. The subject grain remembers the holder and, before it acknowledges any change, revokes the lease
/// (<see cref="IDecisionLeaseHolder.Revoke"/>), or has an edge that does not confirm expelled and waits out its
/// registration (docs/coherence.md, L1 and L3).
/// </summary>
/// <param name="Duration"><see cref="UntilRevoked"/> as subject grains grant them; zero: decide from this copy once, keep nothing.</param>
[GenerateSerializer, Immutable, Alias("shopastro.DecisionLease")]
public sealed record DecisionLease(
    [property: Id(0)] SubjectRecord Subject,
    [property: Id(1)] TimeSpan Duration)
{
    /// <summary>A lease that runs until revoked (or until the holder's epoch ends).</summary>
    public static readonly TimeSpan UntilRevoked = TimeSpan.MaxValue;
}

/// <summary>An edge process that caches decision leases.</summary>
[Alias("shopastro.IDecisionLeaseHolder")]
public interface IDecisionLeaseHolder : IGrainObserver
{
    /// <summary>
    /// Drops the subject's lease and refuses any lease for it whose request was sent before this arrived; and the subject
    /// is no longer decided as absent from the store's absence lease (as after <see cref="AddPresent"/>): an activation
    /// that did not make the subject's first write cannot know whether this edge heard of it.
    /// Completes once no later check of this process can use the old copy.
    /// </summary>
    [Alias("Revoke")]
    Task Revoke(string storeId, string subjectId);

    /// <summary>The subject now has a record: from now on it is decided from its own lease, not as absent.</summary>
    [Alias("AddPresent")]
    Task AddPresent(string storeId, string subjectId);

    /// <summary>Drops the store's lease, policy and absence (its policy changed), and refuses one requested before this arrived.</summary>
    [Alias("RevokeAbsence")]
    Task RevokeAbsence(string storeId);
}

/// <summary>
/// A store's lease to one edge process: the store's committed <see cref="Policy"/>, which the edge decides every
/// subject of the store with, for <see cref="PolicyDuration"/>; and, for <see cref="Duration"/> (at most as long),
/// its absence lease: every subject of the store that has no stored record is decided as one with an empty record;
/// the subjects that have one are <see cref="Present"/> (all of them, or with <see cref="Delta"/> those added after
/// the edge's version of the same <see cref="Epoch"/>). Both are revoked together
/// (<see cref="IDecisionLeaseHolder.RevokeAbsence"/>).
/// </summary>
/// <param name="Duration">Zero while the store has not read its index yet: the policy only, no absence lease.</param>
/// <param name="PolicyDuration">How long the policy may be used; zero: not at all.</param>
[GenerateSerializer, Immutable, Alias("shopastro.AbsenceLease")]
public sealed record AbsenceLease(
    [property: Id(0)] StorePolicy? Policy,
    [property: Id(1)] Guid Epoch,
    [property: Id(2)] int Version,
    [property: Id(3)] string[] Present,
    [property: Id(4)] bool Delta,
    [property: Id(5)] TimeSpan Duration,
    [property: Id(6)] TimeSpan PolicyDuration);

/// <summary>
/// Every edge process that caches decisions registers here (key 0) before it takes its first lease, and
/// renews within <see cref="Expiry"/>; it stops using its cache when it could not renew in time. A first
/// registration is durable before it is confirmed, so the registry knows every possible holder even right
/// after it was activated again. A subject grain activated recently (so that leases from its previous
/// activation may still run) asks this registry whom to revoke, and a change whose revocation an edge did not
/// confirm has that edge expelled (<see cref="Expel"/>).
/// </summary>
[Alias("shopastro.ILeaseHolderRegistryGrain")]
public interface ILeaseHolderRegistryGrain : IGrainWithIntegerKey
{
    public static readonly TimeSpan Expiry = TimeSpan.FromSeconds(10);

    /// <summary>False: the holder was expelled; the edge drops every lease and registers anew as another holder.</summary>
    [Alias("Register")]
    Task<bool> Register(IDecisionLeaseHolder holder);

    [Alias("Unregister")]
    Task Unregister(IDecisionLeaseHolder holder);

    /// <summary>
    /// No registration of <paramref name="holder"/> is confirmed any more (stored before this answers); returns how long
    /// from now it may still use a lease (until its last confirmed registration expires).
    /// </summary>
    [Alias("Expel")]
    Task<TimeSpan> Expel(IDecisionLeaseHolder holder);

    /// <summary>Every edge that registered and has not let its registration expire.</summary>
    [Alias("GetHolders"), ReadOnly, ResponseTimeout(CallTimeouts.Check)]
    Task<IDecisionLeaseHolder[]> GetHolders();
}

/// <summary>An edge the registry expelled, and when (kept for <see cref="HolderRegistry.ExpulsionKept"/>).</summary>
[GenerateSerializer, Immutable, Alias("shopastro.ExpelledHolder")]
public sealed record ExpelledHolder([property: Id(0)] IDecisionLeaseHolder Holder, [property: Id(1)] DateTimeOffset At);

/// <summary>One subject's lease request in a batch: its key.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.LeaseAsk")]
public readonly record struct LeaseAsk([property: Id(0)] string Key);

/// <summary>The subject grain's answer to one <see cref="LeaseAsk"/>: its lease, or why the call failed.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.LeaseAnswer")]
public sealed record LeaseAnswer([property: Id(0)] DecisionLease? Lease, [property: Id(1)] Exception? Failure)
{
    public static LeaseAnswer Granted(DecisionLease lease) => new(lease, null);

    public static LeaseAnswer Failed(Exception failure) => new(null, failure);
}

/// <summary>
/// Carries an edge's decision lease requests to their subject grains in one message per batch
/// (<see cref="LeaseRequestBatches"/>). Transport only: each lease is granted by its subject grain's
/// <see cref="ISubjectGrain.LeaseDecisions"/> for the same holder as a call of its own
/// from the edge (which then comes from a silo, within <see cref="CallTimeouts.LeaseBatch"/>).
/// </summary>
[Alias("shopastro.IDecisionLeaseBatchGrain")]
public interface IDecisionLeaseBatchGrain : IGrainWithIntegerKey
{
    /// <summary>One answer per ask, in order; a subject's failure is its answer, not the batch's.</summary>
    [Alias("LeaseDecisions"), ResponseTimeout(CallTimeouts.LeaseBatch)]
    Task<LeaseAnswer[]> LeaseDecisions(IDecisionLeaseHolder holder, LeaseAsk[] asks);
}
