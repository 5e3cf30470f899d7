using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Holder side of subjects' decision leases, one per edge process: the leases it holds and the revocations that
/// refuse older ones. A lease carries the subject's record; the policy it is decided with is the store's
/// (<see cref="HeldAbsences"/>).
/// <para>
/// Invariant: a lease is used only while it runs (counted from before its request was sent, so never longer than
/// the grant side counts it), within the edge's registration epoch, and only if no revocation for the subject
/// arrived after its request was sent. A revocation therefore completes only when no later check here can use
/// the revoked state, including a lease that is still on its way. A check decides from a lease whose request it
/// joined only if the lease still ran when the check started (<see cref="LeaseForCheckAsync"/>): a lease that ran out
/// before a check started may hold a state a change replaced since, once it could wait no longer for this edge.
/// </para>
/// </summary>
/// <param name="request">Asks a subject grain for a lease: (key).</param>
public sealed class HeldLeases(
    TimeProvider time,
    HolderEpoch epoch,
    Func<string, Task<DecisionLease>> request)
{
    private static readonly TimeSpan MinimumTombstoneLife = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<Entry>> _pending = new(StringComparer.Ordinal);
    private long _longestLease;

    /// <summary>A lease, or a revocation (<see cref="Subject"/> null) that refuses leases requested before it.</summary>
    /// <param name="RenewAfter">From then on a check still answered from this lease also asks for the next one.</param>
    public sealed record Entry(SubjectRecord? Subject, long RequestedAt, long ExpiresAt, long RenewAfter = long.MaxValue);

    public int Count => _entries.Count;

    /// <summary>The longest lease held so far: revocations are kept at least this long.</summary>
    public long LongestLease => Volatile.Read(ref _longestLease);

    /// <summary>A valid lease for <paramref name="key"/>, if this process holds one.</summary>
    public bool TryGet(string key, out Entry lease) =>
        _entries.TryGetValue(key, out lease!) && lease.Subject is not null && time.GetTimestamp() < lease.ExpiresAt && epoch.Admits(lease.RequestedAt);

    public bool Renewing(string key) => _pending.ContainsKey(key);

    /// <summary>
    /// A lease a check that started at <paramref name="startedAt"/> may decide from: the one of a request it joined if
    /// that lease ran at least until the check started, else a new one (requested after the check started).
    /// </summary>
    public async ValueTask<Entry> LeaseForCheckAsync(string key, long startedAt)
    {
        while (true)
        {
            var lease = await LeaseAsync(key);
            if (startedAt <= lease.ExpiresAt)
            {
                return lease;
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
            var duration = time.TimestampTicks(lease.Duration);
            entry = new Entry(lease.Subject, requestedAt, requestedAt + duration, requestedAt + duration * 3 / 4);
            if (duration > 0)
            {
                InterlockedMax(ref _longestLease, duration);
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
        if (lease.RequestedAt < epoch.Start)
        {
            return;
        }

        while (true)
        {
            if (!_entries.TryGetValue(key, out var current))
            {
                if (_entries.TryAdd(key, lease))
                {
                    return;
                }

                continue;
            }

            // A revocation refuses leases requested at or before it arrived; a lease replaces only an older one.
            if (current.RequestedAt >= lease.RequestedAt || _entries.TryUpdate(key, lease, current))
            {
                return;
            }
        }
    }

    public void Revoke(string key)
    {
        _entries[key] = new Entry(null, time.GetTimestamp(), 0);
        // Checks that start from now on must not join a lease request sent before the change.
        _pending.TryRemove(key, out _);
    }

    /// <summary>A new epoch: nothing held before is trusted again.</summary>
    public void Clear() => _entries.Clear();

    /// <summary>Drops run-out leases, and revocations old enough that no lease requested before them can still be valid.</summary>
    public void Sweep()
    {
        var now = time.GetTimestamp();
        var tombstoneLife = Math.Max(LongestLease, time.TimestampTicks(MinimumTombstoneLife));
        foreach (var (key, entry) in _entries)
        {
            var gone = entry.Subject is null ? entry.RequestedAt + tombstoneLife < now : entry.ExpiresAt < now;
            if (gone)
            {
                _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
            }
        }
    }

    private static void InterlockedMax(ref long location, long value)
    {
        var current = Volatile.Read(ref location);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref location, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
