using Orleans.Concurrency;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// What an edge process needs to decide for one subject without calling its grain: the store policy and the
/// subject's status and choices (no receipts), valid for <see cref="Duration"/> counted from before the
/// edge sent its request. The subject grain remembers the holder and, before it acknowledges any change,
/// revokes the lease (<see cref="IDecisionLeaseHolder.Revoke"/>) or waits until it has expired.
/// </summary>
/// <param name="Duration">Zero when the grain could not grant a lease: decide from this copy once, keep nothing.</param>
[GenerateSerializer, Immutable, Alias("shopastro.DecisionLease")]
public sealed record DecisionLease(
    [property: Id(0)] StorePolicy? Policy,
    [property: Id(1)] SubjectRecord Subject,
    [property: Id(2)] TimeSpan Duration);

/// <summary>An edge process that caches decision leases.</summary>
[Alias("shopastro.IDecisionLeaseHolder")]
public interface IDecisionLeaseHolder : IGrainObserver
{
    /// <summary>
    /// Drops the subject's lease and refuses any lease for it whose request was sent before this arrived.
    /// Completes once no later check of this process can use the old copy.
    /// </summary>
    [Alias("Revoke")]
    Task Revoke(string storeId, string subjectId);
}

/// <summary>
/// Every edge process that caches decisions registers here (key 0) before it takes its first lease, and
/// renews within <see cref="Expiry"/>; it stops using its cache when it could not renew in time. A first
/// registration is durable before it is confirmed, so the registry knows every possible holder even right
/// after it was activated again. A subject grain activated recently (so that leases from its previous
/// activation may still run) asks this registry whom to revoke.
/// </summary>
[Alias("shopastro.ILeaseHolderRegistryGrain")]
public interface ILeaseHolderRegistryGrain : IGrainWithIntegerKey
{
    public static readonly TimeSpan Expiry = TimeSpan.FromSeconds(10);

    [Alias("Register")]
    Task Register(IDecisionLeaseHolder holder);

    [Alias("Unregister")]
    Task Unregister(IDecisionLeaseHolder holder);

    /// <summary>Every edge that registered and has not let its registration expire.</summary>
    [Alias("GetHolders"), ReadOnly, ResponseTimeout(CallTimeouts.Check)]
    Task<IDecisionLeaseHolder[]> GetHolders();
}
