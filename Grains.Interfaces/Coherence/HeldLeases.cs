using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Holder side of subjects' decision leases, one per edge process: the leases it holds and the revocations that
/// refuse older ones. A lease carries the subject's record; the policy it is decided with is the store's
/// (<see cref="HeldAbsences"/>). Subject grains grant leases that run until revoked
/// (<see cref="DecisionLease.UntilRevoked"/>, docs/coherence.md L1); at most <c>capacity</c> are held, and any may be
/// dropped: past it, those not used since the eviction hand last passed them go first (a CLOCK, or second chance,
/// approximation of least recently used), so that a subject asked often stays held.
/// <para>
/// Invariant: a lease is used only while it runs (counted from before its request was sent, so never longer than
/// the grant side counts it), within the edge's registration epoch it was requested in, and only if no revocation
/// for the subject arrived after its request was sent. A revocation therefore completes only when no later check
/// here can use the revoked state, including a lease that is still on its way: a revocation is kept at least
/// <see cref="TombstoneLife"/> apart from the leases (a newer lease does not replace it, and dropping that lease does
/// not drop it), and a lease whose answer took longer than that is not kept. A check decides from a
/// lease whose request it joined only if the lease still ran when the check started and its epoch admits it now
/// (<see cref="LeaseForCheckAsync"/>): a lease that ran out before a check started, or one of an epoch that ended,
/// may hold a state a change replaced since, once it could wait no longer for this edge.
/// </para>
/// </summary>
/// <param name="request">Asks a subject grain for a lease: (key).</param>
/// <param name="capacity">The most leases held: past it, others are dropped.</param>
public sealed class HeldLeases(
    TimeProvider time,
    HolderEpoch epoch,
    Func<string, Task<DecisionLease>> request,
    int capacity = int.MaxValue)
{
    /// <summary>How long a revocation is kept, and the longest a lease's answer may take to be kept.</summary>
    public static readonly TimeSpan TombstoneLife = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<Entry>> _pending = new(StringComparer.Ordinal);

    // Revocations (when each arrived): a lease requested at or before one is never used or kept.
    private readonly ConcurrentDictionary<string, long> _revoked = new(StringComparer.Ordinal);
    private long _dropped;

    // Leases held, counted beside the dictionary for the capacity test of every lease kept: the dictionary's own Count
    // takes every one of its locks (up to 1,024 once its table has grown): 15 µs per new lease at 300,000 leases
    // (load-tests/results/20261207-edge-lookups.md). A Clear, or a sweep's recount, beside a keep or a removal can leave
    // it a lease or two off until the next sweep: the capacity bounds memory, it is no rule of the protocol.
    private int _held;

    // The eviction hand (CLOCK): where the last drop over capacity stopped; its next one goes on from there.
    private readonly Lock _handLock = new();
    private IEnumerator<KeyValuePair<string, Entry>>? _hand;

    /// <summary>
    /// A lease. Compared by reference (a removal takes out this lease, not an equal one), so that <see cref="Used"/>,
    /// which checks set, does not change what it equals.
    /// </summary>
    /// <param name="renewAfter">From then on a check still answered from this lease also asks for the next one.</param>
    public sealed class Entry(SubjectRecord subject, long requestedAt, long expiresAt, long renewAfter = long.MaxValue)
    {
        public SubjectRecord Subject { get; } = subject;

        public long RequestedAt { get; } = requestedAt;

        public long ExpiresAt { get; } = expiresAt;

        public long RenewAfter { get; } = renewAfter;

        /// <summary>Set by a check that used it, cleared when the eviction hand passes it: it is passed once more before it is dropped.</summary>
        public bool Used { get; set; }
    }

    /// <summary>Leases held.</summary>
    public int Count => _entries.Count;

    /// <summary>Revocations kept.</summary>
    public int Revocations => _revoked.Count;

    /// <summary>Leases dropped to stay within the capacity, so far.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// A valid lease for <paramref name="key"/>, if this process holds one. The key may be a span over a caller's
    /// buffer (<see cref="SubjectKey.Of(string, string, Span{char})"/>): a check answered here allocates no key.
    /// </summary>
    public bool TryGet(ReadOnlySpan<char> key, out Entry lease)
    {
        if (!_entries.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out lease!) || time.GetTimestamp() >= lease.ExpiresAt ||
            !epoch.Admits(lease.RequestedAt) || RevokedSince(key, lease.RequestedAt))
        {
            return false;
        }

        // Written only when it changes: a subject asked on every request does not keep writing to a shared line.
        if (!lease.Used)
        {
            lease.Used = true;
        }

        return true;
    }

    private bool RevokedSince(ReadOnlySpan<char> key, long requestedAt) =>
        _revoked.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key, out var revokedAt) && revokedAt >= requestedAt;

    public bool Renewing(ReadOnlySpan<char> key) => _pending.GetAlternateLookup<ReadOnlySpan<char>>().ContainsKey(key);

    /// <summary>
    /// A lease a check that started at <paramref name="startedAt"/> may decide from: the one of a request it joined if
    /// that lease ran at least until the check started, else a new one (requested after the check started); null when
    /// the epoch admits none (the check is decided at the grain).
    /// </summary>
    public async ValueTask<Entry?> LeaseForCheckAsync(string key, long startedAt)
    {
        while (true)
        {
            var lease = await LeaseAsync(key);
            if (startedAt <= lease.ExpiresAt && epoch.Admits(lease.RequestedAt))
            {
                return lease;
            }

            if (!epoch.Active)
            {
                return null;
            }
        }
    }

    /// <summary>A new lease for the subject <paramref name="key"/>; concurrent misses of one subject share one request.</summary>
    public Task<Entry> LeaseAsync(string key)
    {
        while (true)
        {
            if (_pending.TryGetValue(key, out var pending))
            {
                return pending;
            }

            var fill = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_pending.TryAdd(key, fill.Task))
            {
                _ = FillAsync(key, fill);
                return fill.Task;
            }
        }
    }

    private async Task FillAsync(string key, TaskCompletionSource<Entry> fill)
    {
        // Counted from before the request: this copy runs out no later than the grain's record of it.
        var requestedAt = time.GetTimestamp();
        Entry entry;
        try
        {
            var lease = await request(key);
            var expiresAt = lease.Duration == DecisionLease.UntilRevoked ? long.MaxValue : requestedAt + time.TimestampTicks(lease.Duration);
            var renewAfter = expiresAt == long.MaxValue ? long.MaxValue : requestedAt + (expiresAt - requestedAt) * 3 / 4;
            // Not marked used: a subject asked for once is the first to go, one asked for again is kept longer.
            entry = new Entry(lease.Subject, requestedAt, expiresAt, renewAfter);
            if (expiresAt > requestedAt && time.GetElapsedTime(requestedAt) < TombstoneLife)
            {
                Keep(key, entry);
            }
        }
        catch (Exception exception)
        {
            _pending.TryRemove(new KeyValuePair<string, Task<Entry>>(key, fill.Task));
            fill.SetException(exception);
            return;
        }

        // No longer joined before it completes: a check that finds it ran out asks anew, not for this one again.
        _pending.TryRemove(new KeyValuePair<string, Task<Entry>>(key, fill.Task));
        // Even when not kept (revoked meanwhile), it answers the checks that were waiting: they started before the
        // change that revoked it was acknowledged.
        fill.SetResult(entry);
    }

    /// <summary>Stores a lease unless a revocation or a newer lease for the subject arrived meanwhile.</summary>
    private void Keep(string key, Entry lease)
    {
        if (lease.RequestedAt < epoch.Start || RevokedSince(key, lease.RequestedAt))
        {
            return;
        }

        while (true)
        {
            if (!_entries.TryGetValue(key, out var current))
            {
                if (_entries.TryAdd(key, lease))
                {
                    Interlocked.Increment(ref _held);
                    break;
                }

                continue;
            }

            // A lease replaces only an older one.
            if (current.RequestedAt >= lease.RequestedAt)
            {
                return;
            }

            if (_entries.TryUpdate(key, lease, current))
            {
                break;
            }
        }

        // A revocation that arrived while this was being kept wins (checks test it too: TryGet).
        if (RevokedSince(key, lease.RequestedAt))
        {
            Remove(key, lease);
            return;
        }

        DropOverCapacity(key);
    }

    /// <summary>
    /// Past the capacity, drops other leases (dropping is always safe; revocations are kept apart): the eviction hand
    /// goes on around the leases from where it stopped, gives each one used since it last passed a second chance (and
    /// clears its mark), and drops the first one that was not used. Two rounds at most: after one, every mark is clear.
    /// </summary>
    private void DropOverCapacity(string kept)
    {
        if (Volatile.Read(ref _held) <= capacity)
        {
            return;
        }

        lock (_handLock)
        {
            var passed = 0;
            var limit = 2 * _held + 2;
            while (Volatile.Read(ref _held) > capacity && passed++ < limit)
            {
                if (_hand is null || !_hand.MoveNext())
                {
                    // A new round; the dictionary's enumerator tolerates changes made meanwhile.
                    _hand?.Dispose();
                    _hand = _entries.GetEnumerator();
                    if (!_hand.MoveNext())
                    {
                        return;
                    }
                }

                var (key, entry) = _hand.Current;
                if (string.Equals(key, kept, StringComparison.Ordinal))
                {
                    continue;
                }

                if (entry.Used)
                {
                    entry.Used = false;
                }
                else if (Remove(key, entry))
                {
                    Interlocked.Increment(ref _dropped);
                }
            }
        }
    }

    /// <summary>Takes out this lease (not a newer one kept meanwhile under the same key).</summary>
    private bool Remove(string key, Entry lease)
    {
        if (!_entries.TryRemove(new KeyValuePair<string, Entry>(key, lease)))
        {
            return false;
        }

        Interlocked.Decrement(ref _held);
        return true;
    }

    public void Revoke(string key)
    {
        var now = time.GetTimestamp();
        _revoked.AddOrUpdate(key, now, (_, before) => Math.Max(before, now));
        if (_entries.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _held);
        }
        // Checks that start from now on must not join a lease request sent before the change.
        _pending.TryRemove(key, out _);
    }

    /// <summary>A new epoch: nothing held before is trusted again, and no check joins a request sent before.</summary>
    public void Clear()
    {
        _entries.Clear();
        Volatile.Write(ref _held, 0);
        lock (_handLock)
        {
            _hand?.Dispose();
            _hand = null;
        }

        _revoked.Clear();
        _pending.Clear();
    }

    /// <summary>Drops run-out leases, and revocations older than <see cref="TombstoneLife"/>; counts the leases held again.</summary>
    public void Sweep()
    {
        var now = time.GetTimestamp();
        foreach (var (key, entry) in _entries)
        {
            if (entry.ExpiresAt < now)
            {
                Remove(key, entry);
            }
        }

        Volatile.Write(ref _held, _entries.Count);

        var oldest = now - time.TimestampTicks(TombstoneLife);
        foreach (var (key, revokedAt) in _revoked)
        {
            if (revokedAt < oldest)
            {
                _revoked.TryRemove(new KeyValuePair<string, long>(key, revokedAt));
            }
        }
    }
}
