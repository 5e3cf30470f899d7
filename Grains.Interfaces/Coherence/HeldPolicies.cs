using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// The store policies an edge process holds, one object per store and version however many leases carry it; the
/// latest one per store is what the process names in a lease request (<see cref="PolicyStamp"/>), so that a lease
/// of the same version comes back without it.
/// <para>
/// Invariant: a policy object here came in a lease, so it was committed (S2); a lease answered "as named" is decided
/// with the very object named in its request, never with one that replaced it meanwhile.
/// </para>
/// </summary>
public sealed class HeldPolicies
{
    private readonly ConcurrentDictionary<string, StorePolicy> _latest = new(StringComparer.Ordinal);

    /// <summary>The latest version held for <paramref name="storeId"/>, to name in a lease request; null if none.</summary>
    public StorePolicy? Latest(string storeId) => _latest.TryGetValue(storeId, out var policy) ? policy : null;

    /// <summary>The object kept for <paramref name="policy"/>'s version (it is kept if it is the latest so far).</summary>
    public StorePolicy? Canonical(string storeId, StorePolicy? policy)
    {
        if (policy is null)
        {
            return null;
        }

        var kept = _latest.AddOrUpdate(storeId, policy, (_, current) => policy.Supersedes(current) ? policy : current);
        return kept.IsNamedBy(PolicyStamp.Of(policy)) ? kept : policy;
    }

    /// <summary>The policy a lease decides with: its own, or the one its request named.</summary>
    public StorePolicy? Of(string storeId, DecisionLease lease, StorePolicy? named) =>
        lease.PolicyAsNamed ? named : Canonical(storeId, lease.Policy);
}
