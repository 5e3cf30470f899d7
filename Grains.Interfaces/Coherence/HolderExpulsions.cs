using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Expulsions of edges that did not confirm a call about a lease that runs until revoked (docs/coherence.md, L3), per
/// silo: each holder is expelled through the registry once, and every later change of this silo's grains that cannot
/// reach it waits for the same instant without asking again.
/// <para>
/// Invariant: <see cref="ExpelAsync"/> returns only once the registry has stored the expulsion, and the instant it
/// returns is no earlier than the end of the holder's last confirmed registration (counted from the registry's answer,
/// which came after the registry measured it); after it, the holder uses no lease.
/// </para>
/// </summary>
public sealed class HolderExpulsions(TimeProvider time, Func<IDecisionLeaseHolder, Task<TimeSpan>> expel)
{
    private readonly ConcurrentDictionary<IDecisionLeaseHolder, (long Until, long At)> _expelled = new();

    public HolderExpulsions(TimeProvider time, IGrainFactory grains)
        : this(time, holder => grains.GetGrain<ILeaseHolderRegistryGrain>(0).Expel(holder))
    {
    }

    /// <summary>Expels <paramref name="holder"/>; returns the timestamp after which it uses no lease. Throws when the registry could not store it.</summary>
    public async Task<long> ExpelAsync(IDecisionLeaseHolder holder)
    {
        // Remembered for half as long as the registry keeps the expulsion: a holder reference it has forgotten could
        // register again (an edge paused for that long, in a new epoch).
        if (_expelled.TryGetValue(holder, out var known) && time.GetElapsedTime(known.At) < HolderRegistry.ExpulsionKept / 2)
        {
            return known.Until;
        }

        var remaining = await expel(holder);
        var now = time.GetTimestamp();
        if (remaining <= TimeSpan.Zero)
        {
            // Not expelled: its registration had run out, so it uses no lease of its epoch; a later one is a new epoch.
            return now;
        }

        var until = now + time.TimestampTicks(remaining);
        _expelled[holder] = (until, now);
        return until;
    }
}
