using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Which edge processes may hold leases (the state of <see cref="ILeaseHolderRegistryGrain"/>).
/// <para>
/// Invariant: every edge that may use a lease is named by the stored set. An edge uses leases only within
/// <see cref="ILeaseHolderRegistryGrain.Expiry"/> of sending a registration that was confirmed, and a
/// registration is confirmed only once the edge is in the stored set; an edge leaves the stored set only
/// when it unregistered or its last renewal is older than the expiry (so it has stopped using its leases).
/// A new activation counts every stored edge as renewed at activation.
/// </para>
/// </summary>
public sealed class HolderRegistry(TimeProvider time, IEnumerable<IDecisionLeaseHolder> stored)
{
    private readonly Dictionary<IDecisionLeaseHolder, long> _renewedAt = stored.ToDictionary(h => h, _ => time.GetTimestamp());
    private HashSet<IDecisionLeaseHolder> _stored = [.. stored];

    /// <summary>Records a renewal; returns the set to store first, or null when the stored set already names the edge.</summary>
    public IReadOnlyList<IDecisionLeaseHolder>? Register(IDecisionLeaseHolder holder)
    {
        _renewedAt[holder] = time.GetTimestamp();
        return _stored.Contains(holder) ? null : Live();
    }

    /// <summary>Returns the set to store, or null when nothing changes.</summary>
    public IReadOnlyList<IDecisionLeaseHolder>? Unregister(IDecisionLeaseHolder holder) =>
        _renewedAt.Remove(holder) || _stored.Contains(holder) ? Live() : null;

    /// <summary>The set was stored.</summary>
    public void Stored(IReadOnlyList<IDecisionLeaseHolder> holders) => _stored = [.. holders];

    /// <summary>Every edge whose registration has not expired.</summary>
    public IDecisionLeaseHolder[] Live()
    {
        var oldest = time.GetTimestamp() - time.TimestampTicks(ILeaseHolderRegistryGrain.Expiry);
        return _renewedAt.Where(h => h.Value > oldest).Select(h => h.Key).ToArray();
    }
}
