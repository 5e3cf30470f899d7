using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Lease holders (edge processes) that recently failed to confirm a call, per silo: not called again for a
/// while, so that an edge that died costs each later change nothing. Not calling a holder counts exactly like
/// a call that failed: whoever asked relies on that holder's leases running out.
/// </summary>
public sealed class UnresponsiveHolders(TimeProvider time)
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(3);

    private readonly ConcurrentDictionary<IDecisionLeaseHolder, long> _until = new();

    public bool Skip(IDecisionLeaseHolder holder) => _until.TryGetValue(holder, out var until) && time.GetTimestamp() < until;

    public void Failed(IDecisionLeaseHolder holder) => _until[holder] = time.GetTimestamp() + time.TimestampTicks(Period);

    public void Answered(IDecisionLeaseHolder holder) => _until.TryRemove(holder, out _);
}
