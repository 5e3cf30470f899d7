namespace ShopAstro.Coherence;

/// <summary>
/// Grant side of a store's policy leases, one per store activation: which subjects hold a copy of the store's policy
/// and until when, so that a new version reaches every copy before its publish is acknowledged.
/// <para>
/// Invariant: <see cref="PushAsync"/> returns only once every copy that may still be used has the new version: each
/// subject whose lease of this activation runs has taken it, or its lease has run out (counted from the grant, so no
/// earlier than the subject counts it, from before its request); and any lease an earlier activation of the store may
/// have handed out (<see cref="Activated"/>) has run out too. A holder is forgotten only once its lease has run out,
/// never when an activation ends: the end of an earlier activation can be heard of after a new activation of the same
/// subject took its lease (found by the coherence simulation), and a push to a subject without an activation only
/// activates it.
/// </para>
/// </summary>
/// <param name="lease">The longest policy lease a store hands out.</param>
public sealed class PolicyLeases(TimeProvider time, TimeSpan lease)
{
    private const int MinimumSweep = 1024;

    private readonly Dictionary<string, long> _expiries = new(StringComparer.Ordinal);

    // Holders whose lease ran out are dropped when the table has doubled since the last sweep (or at a publish), so that
    // subjects activated once and gone do not pile up in a store that publishes rarely.
    private int _sweepAt = MinimumSweep;

    // Until when leases handed out by an earlier activation of this store (on a silo that may have died) may run.
    private long _unknownUntil;

    /// <summary>How many subjects this activation counts as holders (running or not yet forgotten).</summary>
    public int Count => _expiries.Count;

    /// <summary>
    /// This activation starts: when the store was stored before (<paramref name="earlierActivationsMayHaveLeased"/>),
    /// an earlier activation may have handed out leases it does not know of, and a publish waits them out.
    /// </summary>
    public void Activated(bool earlierActivationsMayHaveLeased)
    {
        if (earlierActivationsMayHaveLeased)
        {
            _unknownUntil = time.GetTimestamp() + time.TimestampTicks(lease);
        }
    }

    /// <summary>The id of <paramref name="subjectId"/> as this index holds it, if it holds one: one string per subject in the store grain.</summary>
    public bool TryGetHeld(string subjectId, out string held) =>
        _expiries.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(subjectId, out held!, out _);

    /// <summary>A lease of <paramref name="duration"/> handed to <paramref name="subjectId"/> now.</summary>
    public void Granted(string subjectId, TimeSpan duration)
    {
        var now = time.GetTimestamp();
        _expiries[subjectId] = now + time.TimestampTicks(duration);
        if (_expiries.Count >= _sweepAt)
        {
            Running(now);
        }
    }

    /// <summary>
    /// Gives the new version to every subject whose lease runs (<paramref name="push"/>, each given <paramref name="timeout"/>),
    /// then waits until the lease of each one that did not take it has run out, and every unknown lease of an earlier
    /// activation. Holders whose lease ran out are forgotten. Returns how many holders it pushed to.
    /// </summary>
    /// <param name="failed">A holder did not take the version (an exception, or the timeout): it is waited out.</param>
    public async Task<int> PushAsync(Func<string, Task> push, TimeSpan timeout, Action<Exception> failed)
    {
        var holders = Running(time.GetTimestamp());
        var unreached = await Task.WhenAll(holders.Select(async holder =>
        {
            try
            {
                await push(holder.Key).WaitAsync(timeout, time);
                return 0L;
            }
            catch (Exception exception)
            {
                failed(exception);
                return holder.Value;
            }
        }));

        await time.DelayUntilAsync(Math.Max(_unknownUntil, unreached.DefaultIfEmpty(0L).Max()));
        return holders.Count;
    }

    /// <summary>The holders whose lease runs at <paramref name="now"/>; the others are forgotten.</summary>
    private List<KeyValuePair<string, long>> Running(long now)
    {
        var holders = new List<KeyValuePair<string, long>>(_expiries.Count);
        foreach (var holder in _expiries)
        {
            if (holder.Value > now)
            {
                holders.Add(holder);
            }
        }

        if (holders.Count != _expiries.Count)
        {
            _expiries.Clear();
            foreach (var (subjectId, expiry) in holders)
            {
                _expiries[subjectId] = expiry;
            }
        }

        _sweepAt = Math.Max(MinimumSweep, 2 * _expiries.Count);
        return holders;
    }
}
