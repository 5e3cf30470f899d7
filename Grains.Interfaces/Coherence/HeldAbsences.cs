using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Holder side of stores' absence leases, one per edge process.
/// <para>
/// Invariant: a subject is decided as absent only under a valid absence lease (running, within the epoch, requested
/// after the store's last revocation arrived) and only if it is not in the store's present set here, which is the
/// union of every absence lease and every <see cref="AddPresent"/> received: it never shrinks, so a late or
/// out-of-order answer cannot hide a subject.
/// </para>
/// </summary>
/// <param name="request">Asks a store for its absence lease: (storeId, epoch, version held).</param>
/// <param name="canonical">One policy object per store and version: (storeId, policy).</param>
public sealed class HeldAbsences(
    TimeProvider time,
    HolderEpoch epoch,
    Func<string, Guid, int, Task<AbsenceLease>> request,
    Func<string, StorePolicy?, StorePolicy?> canonical,
    Action<Exception, string> logFailure)
{
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(500);

    private readonly ConcurrentDictionary<string, Store> _stores = new(StringComparer.Ordinal);

    private sealed class Store
    {
        public readonly ConcurrentDictionary<string, byte> Present = new(StringComparer.Ordinal);
        public Absence? Lease;
        public long RevokedAt;
        public int Filling;

        /// <summary>After a refusal (the store has not read its index yet) or a failure: not asked again before this.</summary>
        public long RetryAt;
    }

    public sealed record Absence(StorePolicy? Policy, Guid Epoch, int Version, long RequestedAt, long ExpiresAt, long RenewAfter);

    private Store Of(string storeId) => _stores.GetOrAdd(storeId, static _ => new Store());

    /// <summary>
    /// Whether <paramref name="subjectId"/> is decided as absent under the store's valid absence lease. Asks the store
    /// for a lease in the background when there is none or it is due for renewal.
    /// </summary>
    public bool TryGetAbsent(string storeId, string subjectId, out Absence absence)
    {
        var store = Of(storeId);
        var lease = Volatile.Read(ref store.Lease);
        var now = time.GetTimestamp();
        if (lease is not null && now < lease.ExpiresAt && lease.RequestedAt > Volatile.Read(ref store.RevokedAt) && epoch.Admits(lease.RequestedAt))
        {
            if (now >= lease.RenewAfter)
            {
                Fill(storeId, store);
            }

            absence = lease;
            return !store.Present.ContainsKey(subjectId);
        }

        if (epoch.Active)
        {
            Fill(storeId, store);
        }

        absence = null!;
        return false;
    }

    private void Fill(string storeId, Store store)
    {
        if (time.GetTimestamp() >= Volatile.Read(ref store.RetryAt) && Interlocked.CompareExchange(ref store.Filling, 1, 0) == 0)
        {
            _ = FillAsync(storeId, store);
        }
    }

    private async Task FillAsync(string storeId, Store store)
    {
        try
        {
            var requestedAt = time.GetTimestamp();
            var known = Volatile.Read(ref store.Lease);
            var lease = await request(storeId, known?.Epoch ?? Guid.Empty, known?.Version ?? -1);
            if (lease.Delta && (known is null || known.Epoch != lease.Epoch))
            {
                return;
            }

            foreach (var subjectId in lease.Present)
            {
                store.Present.TryAdd(subjectId, 0);
            }

            var duration = time.TimestampTicks(lease.Duration);
            if (duration <= 0)
            {
                Volatile.Write(ref store.RetryAt, time.GetTimestamp() + time.TimestampTicks(Retry));
                return;
            }

            if (requestedAt <= Volatile.Read(ref store.RevokedAt) || requestedAt < epoch.Start)
            {
                return;
            }

            var next = new Absence(canonical(storeId, lease.Policy), lease.Epoch, lease.Version, requestedAt, requestedAt + duration, requestedAt + duration * 3 / 4);
            var current = Volatile.Read(ref store.Lease);
            while ((current is null || current.RequestedAt < requestedAt)
                && Interlocked.CompareExchange(ref store.Lease, next, current) is var seen && !ReferenceEquals(seen, current))
            {
                current = seen;
            }

            // A revocation that arrived while this was being kept wins.
            if (requestedAt <= Volatile.Read(ref store.RevokedAt))
            {
                Interlocked.CompareExchange(ref store.Lease, null, next);
            }
        }
        catch (Exception exception)
        {
            Volatile.Write(ref store.RetryAt, time.GetTimestamp() + time.TimestampTicks(Retry));
            logFailure(exception, storeId);
        }
        finally
        {
            Volatile.Write(ref store.Filling, 0);
        }
    }

    public void AddPresent(string storeId, string subjectId) => Of(storeId).Present.TryAdd(subjectId, 0);

    public void Revoke(string storeId)
    {
        var store = Of(storeId);
        Volatile.Write(ref store.RevokedAt, time.GetTimestamp());
        Volatile.Write(ref store.Lease, null);
    }

    /// <summary>A new epoch: nothing held before is trusted again.</summary>
    public void Clear() => _stores.Clear();
}
