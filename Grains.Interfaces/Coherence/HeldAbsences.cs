using System.Collections.Concurrent;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Holder side of stores' leases (<see cref="AbsenceLease"/>), one per edge process: the policy every subject of a
/// store is decided with, and which subjects are decided as absent.
/// <para>
/// Invariant: a store's policy is used only under a valid store lease (its policy part running, within the epoch,
/// requested after the store's last revocation arrived), and a subject is decided as absent only under a valid
/// absence lease (its absence part running, on the same conditions) and only if it is not in the store's present set
/// here, which is the union of every absence lease and every <see cref="AddPresent"/> received: it never shrinks, so a
/// late or out-of-order answer cannot hide a subject.
/// </para>
/// </summary>
/// <param name="request">Asks a store for its lease: (storeId, epoch, version held).</param>
public sealed class HeldAbsences(
    TimeProvider time,
    HolderEpoch epoch,
    Func<string, Guid, int, Task<AbsenceLease>> request,
    Action<Exception, string> logFailure)
{
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(500);

    /// <summary>How many store leases a check waiting for one asks for before it is decided elsewhere.</summary>
    private const int RequestsPerCheck = 2;

    private readonly ConcurrentDictionary<string, Store> _stores = new(StringComparer.Ordinal);

    private sealed class Store(string id)
    {
        public readonly string Id = id;
        public readonly ConcurrentDictionary<string, byte> Present = new(StringComparer.Ordinal);
        public Absence? Lease;
        public long RevokedAt;
        public Task? Filling;

        /// <summary>After a failure, or a lease without its absence part: not asked again before this, except by a check that waits for a lease.</summary>
        public long RetryAt;
    }

    /// <param name="ExpiresAt">The end of the absence part (<paramref name="RequestedAt"/> when the store withheld it).</param>
    /// <param name="PolicyExpiresAt">The end of the policy part.</param>
    public sealed record Absence(StorePolicy? Policy, Guid Epoch, int Version, long RequestedAt, long ExpiresAt, long PolicyExpiresAt, long RenewAfter);

    private Store Of(string storeId) => _stores.GetOrAdd(storeId, static id => new Store(id));

    /// <summary>
    /// Whether <paramref name="subjectId"/> is decided as absent under the store's valid absence lease. Asks the store
    /// for a lease in the background when there is none or it is due for renewal.
    /// </summary>
    public bool TryGetAbsent(string storeId, string subjectId, out Absence absence)
    {
        var store = Of(storeId);
        if (Usable(store, policyOnly: false) is { } lease)
        {
            absence = lease;
            return !store.Present.ContainsKey(subjectId);
        }

        absence = null!;
        return false;
    }

    /// <summary>The policy of the store's valid lease, if one is held; asks for one in the background otherwise.</summary>
    public bool TryGetPolicy(string storeId, out StorePolicy? policy)
    {
        var lease = Usable(Of(storeId), policyOnly: true);
        policy = lease?.Policy;
        return lease is not null;
    }

    /// <summary>
    /// The policy of a store lease valid now, waiting for one if none is held (at most <see cref="RequestsPerCheck"/>
    /// requests); false when none came, and the check is decided elsewhere.
    /// </summary>
    public async ValueTask<(bool Held, StorePolicy? Policy)> PolicyForCheckAsync(string storeId)
    {
        var store = Of(storeId);
        for (var requests = 0; requests < RequestsPerCheck && epoch.Active; requests++)
        {
            if (Usable(store, policyOnly: true) is { } lease)
            {
                return (true, lease.Policy);
            }

            await Fill(store, force: true);
        }

        return Usable(store, policyOnly: true) is { } last ? (true, last.Policy) : (false, null);
    }

    /// <summary>
    /// The store's lease if its policy part (with <paramref name="policyOnly"/>) or its absence part may be used now;
    /// starts a request when there is none, or the lease is due for renewal.
    /// </summary>
    private Absence? Usable(Store store, bool policyOnly)
    {
        var lease = Volatile.Read(ref store.Lease);
        var now = time.GetTimestamp();
        var usable = lease is not null && now < (policyOnly ? lease.PolicyExpiresAt : lease.ExpiresAt)
            && lease.RequestedAt > Volatile.Read(ref store.RevokedAt) && epoch.Admits(lease.RequestedAt);
        if (usable ? now >= lease!.RenewAfter : epoch.Active)
        {
            // Not before RetryAt (Fill's own rule for a request nobody waits for).
            _ = Fill(store, force: false);
        }

        return usable ? lease : null;
    }

    /// <summary>The store's lease request under way, or a new one.</summary>
    private Task Fill(Store store, bool force)
    {
        while (true)
        {
            if (Volatile.Read(ref store.Filling) is { } filling)
            {
                return filling;
            }

            if (!force && time.GetTimestamp() < Volatile.Read(ref store.RetryAt))
            {
                return Task.CompletedTask;
            }

            var fill = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (Interlocked.CompareExchange(ref store.Filling, fill.Task, null) is null)
            {
                _ = FillAsync(store, fill);
                return fill.Task;
            }
        }
    }

    private async Task FillAsync(Store store, TaskCompletionSource fill)
    {
        try
        {
            var requestedAt = time.GetTimestamp();
            var known = Volatile.Read(ref store.Lease);
            var lease = await request(store.Id, known?.Epoch ?? Guid.Empty, known?.Version ?? -1);
            if (lease.Delta && (known is null || known.Epoch != lease.Epoch))
            {
                return;
            }

            foreach (var subjectId in lease.Present)
            {
                store.Present.TryAdd(subjectId, 0);
            }

            var policyDuration = time.TimestampTicks(lease.PolicyDuration);
            if (policyDuration <= 0)
            {
                Volatile.Write(ref store.RetryAt, time.GetTimestamp() + time.TimestampTicks(Retry));
                return;
            }

            if (requestedAt <= Volatile.Read(ref store.RevokedAt) || requestedAt < epoch.Start)
            {
                return;
            }

            var duration = time.TimestampTicks(lease.Duration);
            if (duration <= 0)
            {
                // The policy without the absence part (the store has not read its index yet): asked again soon for it.
                Volatile.Write(ref store.RetryAt, time.GetTimestamp() + time.TimestampTicks(Retry));
            }

            var next = new Absence(lease.Policy, lease.Epoch, lease.Version, requestedAt, requestedAt + Math.Max(duration, 0),
                requestedAt + policyDuration, requestedAt + policyDuration * 3 / 4);
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
            logFailure(exception, store.Id);
        }
        finally
        {
            Volatile.Write(ref store.Filling, null);
            fill.SetResult();
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
