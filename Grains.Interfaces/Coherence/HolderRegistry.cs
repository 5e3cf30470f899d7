using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Which edge processes may hold leases (the state of <see cref="ILeaseHolderRegistryGrain"/>), and which were expelled.
/// <para>
/// Invariant: every edge that may use a lease is named by the stored set. An edge uses leases only within
/// <see cref="ILeaseHolderRegistryGrain.Expiry"/> of sending a registration that was confirmed, and a
/// registration is confirmed only once the edge is in the stored set; an edge leaves the stored set only
/// when it unregistered or its last renewal is older than the expiry (so it has stopped using its leases).
/// A new activation counts every stored edge as renewed at activation.
/// </para>
/// <para>
/// Expulsion (docs/coherence.md, L3): once <see cref="Expel"/> has been stored, no registration of that edge (that
/// holder reference) is confirmed again, so it uses no lease past <see cref="Expel"/>'s answer: the expiry of the last
/// renewal confirmed before it. An expelled edge stays in <see cref="Live"/> until then.
/// </para>
/// </summary>
public sealed class HolderRegistry
{
    /// <summary>How long an expulsion is kept: far longer than a registration lasts (an edge that renews after it was dropped starts a new epoch).</summary>
    public static readonly TimeSpan ExpulsionKept = TimeSpan.FromHours(1);

    private readonly TimeProvider _time;
    private readonly Dictionary<IDecisionLeaseHolder, long> _renewedAt;
    private readonly Dictionary<IDecisionLeaseHolder, DateTimeOffset> _expelled;
    private HashSet<IDecisionLeaseHolder> _stored;

    public HolderRegistry(TimeProvider time, IEnumerable<IDecisionLeaseHolder> stored, IEnumerable<ExpelledHolder> expelled)
    {
        _time = time;
        _renewedAt = stored.ToDictionary(h => h, _ => time.GetTimestamp());
        _stored = [.. stored];
        _expelled = expelled.ToDictionary(e => e.Holder, e => e.At);
    }

    public bool IsExpelled(IDecisionLeaseHolder holder) => _expelled.ContainsKey(holder);

    /// <summary>Records a renewal of an edge not expelled; returns whether it must be stored (<see cref="Snapshot"/>) before it is confirmed.</summary>
    public bool Register(IDecisionLeaseHolder holder)
    {
        if (IsExpelled(holder))
        {
            throw new InvalidOperationException("An expelled holder is never registered again.");
        }

        _renewedAt[holder] = _time.GetTimestamp();
        return !_stored.Contains(holder);
    }

    /// <summary>Returns whether the state must be stored.</summary>
    public bool Unregister(IDecisionLeaseHolder holder) => _renewedAt.Remove(holder) || _stored.Contains(holder);

    /// <summary>
    /// Expels <paramref name="holder"/>: returns how long from now it may still use a lease, and whether the expulsion
    /// must be stored (<see cref="Snapshot"/>) before that answer is given. An edge whose registration has run out needs
    /// none: it has stopped using its leases, and a registration after that starts a new epoch.
    /// </summary>
    public TimeSpan Expel(IDecisionLeaseHolder holder, out bool store)
    {
        var remaining = _renewedAt.TryGetValue(holder, out var renewedAt)
            ? _time.GetElapsedTime(_time.GetTimestamp(), renewedAt + _time.TimestampTicks(ILeaseHolderRegistryGrain.Expiry))
            : TimeSpan.Zero;
        if (remaining <= TimeSpan.Zero)
        {
            store = false;
            return TimeSpan.Zero;
        }

        store = _expelled.TryAdd(holder, _time.GetUtcNow());
        return remaining;
    }

    /// <summary>The expulsion of <paramref name="holder"/> could not be stored, and was not answered: it is forgotten.</summary>
    public void ExpulsionNotStored(IDecisionLeaseHolder holder) => _expelled.Remove(holder);

    /// <summary>What to store: the live edges, and the expulsions not yet <see cref="ExpulsionKept"/> old.</summary>
    public (IDecisionLeaseHolder[] Holders, ExpelledHolder[] Expelled) Snapshot()
    {
        var oldest = _time.GetUtcNow() - ExpulsionKept;
        foreach (var (holder, at) in _expelled.Where(e => e.Value < oldest).ToList())
        {
            _expelled.Remove(holder);
        }

        return (Live(), [.. _expelled.Select(e => new ExpelledHolder(e.Key, e.Value))]);
    }

    /// <summary>The set was stored.</summary>
    public void Stored(IReadOnlyList<IDecisionLeaseHolder> holders) => _stored = [.. holders];

    /// <summary>Every edge whose registration has not expired (an expelled one included, until its last one has).</summary>
    public IDecisionLeaseHolder[] Live()
    {
        var oldest = _time.GetTimestamp() - _time.TimestampTicks(ILeaseHolderRegistryGrain.Expiry);
        return _renewedAt.Where(h => h.Value > oldest).Select(h => h.Key).ToArray();
    }
}
