namespace ShopAstro.Coherence;

/// <summary>
/// When an edge may use its leases: within [start, usableUntil), from the end of a registration that the registry
/// confirmed to the expiry of the last one sent. After a lapse the registry may have forgotten this edge, and with
/// it revocations were missed: a new epoch starts and leases requested before it are never used again.
/// </summary>
public sealed class HolderEpoch(TimeProvider time)
{
    private long _start = long.MaxValue;
    private long _usableUntil;

    public long Start => Volatile.Read(ref _start);

    /// <summary>Whether a lease requested at <paramref name="requestedAt"/> may be used now.</summary>
    public bool Admits(long requestedAt) => requestedAt >= Volatile.Read(ref _start) && time.GetTimestamp() < Volatile.Read(ref _usableUntil);

    /// <summary>Whether leases may be used at all now (a lease requested now would be admitted).</summary>
    public bool Active => Admits(time.GetTimestamp());

    /// <summary>
    /// A registration sent at <paramref name="sentAt"/> was confirmed. Returns true when a new epoch starts (the first
    /// registration, or one after a lapse): the caller drops everything it held.
    /// </summary>
    public bool Confirmed(long sentAt, TimeSpan registrationExpiry, TimeSpan margin)
    {
        var confirmedAt = time.GetTimestamp();
        var lapsed = confirmedAt >= Volatile.Read(ref _usableUntil);
        if (lapsed)
        {
            Volatile.Write(ref _start, confirmedAt);
        }

        // A margin of one renewal period for the registry's clock and the message's way there.
        Volatile.Write(ref _usableUntil, sentAt + time.TimestampTicks(registrationExpiry - margin));
        return lapsed;
    }

    /// <summary>Stopping, or expelled by the registry: no lease is used any more, and a registration confirmed later starts a new epoch.</summary>
    public void End() => Volatile.Write(ref _usableUntil, 0);
}
