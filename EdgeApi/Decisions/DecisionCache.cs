using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using ShopAstro.Coherence;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Grains;
using ShopAstro.Grains.Feed;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Decisions;

public sealed class DecisionCacheOptions
{
    public const string Section = "DecisionCache";

    /// <summary>Off: every check is a call to the subject grain.</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>
/// This edge process's copy of subjects' decision inputs, held as leases granted by the subject grains, so
/// that a check is a dictionary lookup and the precedence table instead of a grain call. Exactly
/// consistent: a subject grain acknowledges a change only after this cache confirmed the revocation (or its
/// lease ran out), and a revocation also refuses every lease whose request was sent before it arrived.
/// The cache is used only while this process is registered with the lease holder registry, through which
/// a re-activated subject grain finds the holders of its previous activation's leases.
/// </summary>
public sealed partial class DecisionCache(
    IGrainFactory grains,
    TimeProvider time,
    StoreStatsCollector stats,
    EdgeMetrics metrics,
    IOptions<DecisionCacheOptions> options,
    ILogger<DecisionCache> logger)
    : IDecisionLeaseHolder, IHostedService, IDisposable
{
    /// <summary>How often the registration is renewed: well within <see cref="ILeaseHolderRegistryGrain.Expiry"/>.</summary>
    public static readonly TimeSpan RegistrationPeriod = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan SweepPeriod = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MinimumTombstoneLife = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<Entry>> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StorePolicy> _policies = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private IDecisionLeaseHolder? _reference;
    private Task? _maintenance;

    // Leases are usable only within [_epochStart, _usableUntil): from the end of a registration that the
    // registry answered to the expiry of the last one sent. After a lapse the registry may have forgotten this
    // process, and with it revocations were missed: a new epoch starts and older leases are never used again.
    private long _epochStart = long.MaxValue;
    private long _usableUntil;
    private long _longestLease;

    /// <summary>A lease, or a revocation (<see cref="Subject"/> null) that refuses leases requested before it.</summary>
    /// <param name="RenewAfter">From then on a check still answered from this lease also asks for the next one.</param>
    private sealed record Entry(StorePolicy? Policy, SubjectRecord? Subject, long RequestedAt, long ExpiresAt, long RenewAfter = long.MaxValue);

    public bool Enabled => options.Value.Enabled;

    /// <summary>Cached subjects (leases not yet swept), for metrics and tests.</summary>
    public int Count => _entries.Count;

    /// <summary>Whether checks are answered here right now (registered, not lapsed).</summary>
    public bool Active
    {
        get
        {
            var now = time.GetTimestamp();
            return now >= Volatile.Read(ref _epochStart) && now < Volatile.Read(ref _usableUntil);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled)
        {
            _maintenance = Task.Run(MaintainAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _usableUntil, 0);
        await _stopping.CancelAsync();
        if (_maintenance is not null)
        {
            await _maintenance.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        try
        {
            await grains.GetGrain<ILeaseHolderRegistryGrain>(0).Unregister(Reference).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
        }
        catch (Exception exception)
        {
            // The registration expires by itself.
            LogRegistrationFailed(exception);
        }
    }

    /// <summary>The decisions for one subject if this process can decide it without a grain call.</summary>
    public bool TryDecide(string storeId, string subjectId, Purpose[] purposes, RequestSignals signals, out DecisionSet decided)
    {
        if (Enabled && TryDecideHere(storeId, subjectId, SubjectKey.Of(storeId, subjectId), purposes, signals, out decided))
        {
            return true;
        }

        decided = null!;
        return false;
    }

    /// <summary>The decisions for one subject: from a valid lease here, else from a new one.</summary>
    public ValueTask<DecisionSet> DecideAsync(string storeId, string subjectId, Purpose[] purposes, RequestSignals signals)
    {
        var key = SubjectKey.Of(storeId, subjectId);
        if (!Enabled)
        {
            metrics.CacheLookup("grain");
            return grains.GetGrain<ISubjectGrain>(key).Decide(purposes, signals);
        }

        if (TryDecideHere(storeId, subjectId, key, purposes, signals, out var decided))
        {
            return ValueTask.FromResult(decided);
        }

        return DecideAfterLease(storeId, key, purposes, signals);
    }

    /// <summary>From the subject's lease, or from the store's absence lease when the subject has no record.</summary>
    private bool TryDecideHere(string storeId, string subjectId, string key, Purpose[] purposes, RequestSignals signals, out DecisionSet decided)
    {
        if (TryGetLease(key, out var lease))
        {
            metrics.CacheLookup("hit");
            RenewAhead(key, storeId, lease);
            decided = Decide(storeId, lease.Policy, lease.Subject!, purposes, signals);
            return true;
        }

        if (TryGetAbsence(storeId, out var absence) && !absence.Store.Present.ContainsKey(subjectId))
        {
            metrics.CacheLookup("absent");
            decided = Decide(storeId, absence.Policy, SubjectRecord.Empty, purposes, signals);
            return true;
        }

        decided = null!;
        return false;
    }

    /// <summary>A valid lease for <paramref name="key"/>, if this process holds one.</summary>
    private bool TryGetLease(string key, out Entry lease)
    {
        var now = time.GetTimestamp();
        if (_entries.TryGetValue(key, out lease!) && lease.Subject is not null && now < lease.ExpiresAt
            && lease.RequestedAt >= Volatile.Read(ref _epochStart) && now < Volatile.Read(ref _usableUntil))
        {
            return true;
        }

        return false;
    }

    /// <summary>
    /// A subject still asked for near the end of its lease gets the next one in the background, so that no
    /// check of a subject in use waits for a renewal (and renewals do not come in bursts).
    /// </summary>
    private void RenewAhead(string key, string storeId, Entry lease)
    {
        if (time.GetTimestamp() >= lease.RenewAfter && !_pending.ContainsKey(key))
        {
            LeaseAsync(key, storeId).ContinueWith(
                static renewal => _ = renewal.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }

    private async ValueTask<DecisionSet> DecideAfterLease(string storeId, string key, Purpose[] purposes, RequestSignals signals)
    {
        if (!Active)
        {
            metrics.CacheLookup("grain");
            return await grains.GetGrain<ISubjectGrain>(key).Decide(purposes, signals);
        }

        metrics.CacheLookup("lease");
        var lease = await LeaseAsync(key, storeId);
        return Decide(storeId, lease.Policy, lease.Subject!, purposes, signals);
    }

    /// <summary>Concurrent misses of one subject share one grain call.</summary>
    private Task<Entry> LeaseAsync(string key, string storeId)
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
                _ = FillAsync(key, storeId, fill);
                return fill.Task;
            }
        }
    }

    private async Task FillAsync(string key, string storeId, TaskCompletionSource<Entry> fill)
    {
        // Counted from before the request: this copy runs out no later than the grain's record of it.
        var requestedAt = time.GetTimestamp();
        try
        {
            var lease = await grains.GetGrain<ISubjectGrain>(key).LeaseDecisions(Reference);
            var duration = time.TimestampTicks(lease.Duration);
            var entry = new Entry(Canonical(storeId, lease.Policy), lease.Subject, requestedAt, requestedAt + duration, requestedAt + duration * 3 / 4);
            if (duration > 0)
            {
                InterlockedMax(ref _longestLease, duration);
                Keep(key, entry);
            }

            // Even when not kept (revoked meanwhile), it answers the checks that were waiting: they started
            // before the change that revoked it was acknowledged.
            fill.SetResult(entry);
        }
        catch (Exception exception)
        {
            fill.SetException(exception);
        }
        finally
        {
            _pending.TryRemove(new KeyValuePair<string, Task<Entry>>(key, fill.Task));
        }
    }

    /// <summary>Stores a lease unless a revocation or a newer lease for the subject arrived meanwhile.</summary>
    private void Keep(string key, Entry lease)
    {
        if (lease.RequestedAt < Volatile.Read(ref _epochStart))
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

    public Task Revoke(string storeId, string subjectId)
    {
        var key = SubjectKey.Of(storeId, subjectId);
        _entries[key] = new Entry(null, null, time.GetTimestamp(), 0);
        // Checks that start from now on must not join a lease request sent before the change.
        _pending.TryRemove(key, out _);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        // Registered both as itself and as a hosted service: disposed twice.
        if (!_stopping.IsCancellationRequested)
        {
            _stopping.Cancel();
        }
    }

    private DecisionSet Decide(string storeId, StorePolicy? policy, SubjectRecord subject, Purpose[] purposes, RequestSignals signals)
    {
        var counters = stats.For(storeId);
        var decisions = new Decision[purposes.Length];
        for (var i = 0; i < purposes.Length; i++)
        {
            decisions[i] = DecisionEngine.Decide(policy, subject, purposes[i], signals);
            counters.Checked(decisions[i]);
        }

        return new DecisionSet(policy?.Version, decisions);
    }

    // ------------------------------------------------------------------ absence leases (per store)

    /// <summary>
    /// A store's subjects with a record as this process knows them (a union of every absence lease and every
    /// <see cref="AddPresent"/>: never shrinks, so a late or out-of-order answer cannot hide a subject), and its
    /// current absence lease.
    /// </summary>
    private sealed class StoreAbsence
    {
        public readonly ConcurrentDictionary<string, byte> Present = new(StringComparer.Ordinal);
        public Absence? Lease;
        public long RevokedAt;
        public int Filling;

        /// <summary>After a refusal (the store has not read its index yet) or a failure: not asked again before this.</summary>
        public long RetryAt;
    }

    private static readonly TimeSpan AbsenceRetry = TimeSpan.FromMilliseconds(500);

    private sealed record Absence(StoreAbsence Store, StorePolicy? Policy, Guid Epoch, int Version, long RequestedAt, long ExpiresAt, long RenewAfter);

    private readonly ConcurrentDictionary<string, StoreAbsence> _absences = new(StringComparer.Ordinal);

    private StoreAbsence AbsenceOf(string storeId) => _absences.GetOrAdd(storeId, static _ => new StoreAbsence());

    private bool TryGetAbsence(string storeId, out Absence absence)
    {
        var store = AbsenceOf(storeId);
        var lease = Volatile.Read(ref store.Lease);
        var now = time.GetTimestamp();
        if (lease is not null && now < lease.ExpiresAt && lease.RequestedAt > Volatile.Read(ref store.RevokedAt)
            && lease.RequestedAt >= Volatile.Read(ref _epochStart) && now < Volatile.Read(ref _usableUntil))
        {
            if (now >= lease.RenewAfter)
            {
                FillAbsence(storeId, store);
            }

            absence = lease;
            return true;
        }

        if (Active)
        {
            FillAbsence(storeId, store);
        }

        absence = null!;
        return false;
    }

    /// <summary>Asks the store grain for its absence lease in the background, one request per store at a time.</summary>
    private void FillAbsence(string storeId, StoreAbsence store)
    {
        if (time.GetTimestamp() >= Volatile.Read(ref store.RetryAt) && Interlocked.CompareExchange(ref store.Filling, 1, 0) == 0)
        {
            _ = FillAbsenceAsync(storeId, store);
        }
    }

    private async Task FillAbsenceAsync(string storeId, StoreAbsence store)
    {
        try
        {
            var requestedAt = time.GetTimestamp();
            var known = Volatile.Read(ref store.Lease);
            var lease = await grains.GetGrain<IStoreGrain>(storeId)
                .LeaseAbsence(Reference, known?.Epoch ?? Guid.Empty, known?.Version ?? -1);
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
                Volatile.Write(ref store.RetryAt, time.GetTimestamp() + time.TimestampTicks(AbsenceRetry));
                return;
            }

            if (requestedAt <= Volatile.Read(ref store.RevokedAt) || requestedAt < Volatile.Read(ref _epochStart))
            {
                return;
            }

            var next = new Absence(store, Canonical(storeId, lease.Policy), lease.Epoch, lease.Version, requestedAt,
                requestedAt + duration, requestedAt + duration * 3 / 4);
            InterlockedMax(ref _longestLease, duration);
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
            Volatile.Write(ref store.RetryAt, time.GetTimestamp() + time.TimestampTicks(AbsenceRetry));
            LogAbsenceFailed(exception, storeId);
        }
        finally
        {
            Volatile.Write(ref store.Filling, 0);
        }
    }

    public Task AddPresent(string storeId, string subjectId)
    {
        AbsenceOf(storeId).Present.TryAdd(subjectId, 0);
        return Task.CompletedTask;
    }

    public Task RevokeAbsence(string storeId)
    {
        var store = AbsenceOf(storeId);
        Volatile.Write(ref store.RevokedAt, time.GetTimestamp());
        Volatile.Write(ref store.Lease, null);
        return Task.CompletedTask;
    }

    /// <summary>One policy object per store version, however many subjects' leases carry it.</summary>
    private StorePolicy? Canonical(string storeId, StorePolicy? policy)
    {
        if (policy is null)
        {
            return null;
        }

        var kept = _policies.AddOrUpdate(storeId, policy, (_, current) => policy.Supersedes(current) ? policy : current);
        return kept.Version == policy.Version && kept.PublishedAt == policy.PublishedAt ? kept : policy;
    }

    private IDecisionLeaseHolder Reference => _reference ??= grains.CreateObjectReference<IDecisionLeaseHolder>(this);

    private async Task MaintainAsync()
    {
        var lastSweep = time.GetTimestamp();
        while (!_stopping.IsCancellationRequested)
        {
            await RegisterAsync();
            if (time.GetElapsedTime(lastSweep) >= SweepPeriod)
            {
                Sweep();
                lastSweep = time.GetTimestamp();
            }

            try
            {
                await Task.Delay(RegistrationPeriod, time, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RegisterAsync()
    {
        var sentAt = time.GetTimestamp();
        try
        {
            await grains.GetGrain<ILeaseHolderRegistryGrain>(0).Register(Reference).WaitAsync(RegistrationPeriod, time);
        }
        catch (Exception exception)
        {
            LogRegistrationFailed(exception);
            return;
        }

        var confirmedAt = time.GetTimestamp();
        if (confirmedAt >= Volatile.Read(ref _usableUntil))
        {
            // First registration, or after a lapse: nothing held before is trusted again.
            Volatile.Write(ref _epochStart, confirmedAt);
            _entries.Clear();
            _absences.Clear();
            LogRegistered();
        }

        // A margin of one renewal period for the registry's clock and the message's way there.
        var expiry = ILeaseHolderRegistryGrain.Expiry - RegistrationPeriod;
        Volatile.Write(ref _usableUntil, sentAt + time.TimestampTicks(expiry));
    }

    /// <summary>Drops run-out leases, and revocations old enough that no lease requested before them can still be valid.</summary>
    private void Sweep()
    {
        var now = time.GetTimestamp();
        var tombstoneLife = Math.Max(
            Volatile.Read(ref _longestLease), time.TimestampTicks(MinimumTombstoneLife));
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Decision cache: registration with the lease holder registry failed; checks go to the grains once it lapses")]
    private partial void LogRegistrationFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Decision cache: the absence lease of store {StoreId} could not be taken")]
    private partial void LogAbsenceFailed(Exception exception, string storeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Decision cache: registered, answering checks from leases")]
    private partial void LogRegistered();
}
