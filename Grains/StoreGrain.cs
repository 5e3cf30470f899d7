using Orleans.Runtime;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Coherence;
using ShopAstro.Grains.Leases;
using ShopAstro.Grains.Stats;

namespace ShopAstro.Grains;

[GenerateSerializer, Immutable, Alias("shopastro.StoreState")]
public sealed record StoreState
{
    [Id(0)] public StorePolicy? Policy { get; init; }

    /// <summary>Every version ever published, oldest first: which purposes changed materially when.</summary>
    [Id(1)] public ImmutableList<StorePolicy> History { get; init; } = [];
}

/// <summary>
/// Holds a store's policy and hands it to subject grains as leases, and to edges with its subject index as
/// absence leases (<see cref="AbsenceIndex"/>). Only the committed policy is ever handed out (S2): a publish in
/// flight is invisible to the lease requests that interleave with it. A publish is acknowledged only once every
/// lease holder has the new version or its lease has expired, so no check that starts after the
/// acknowledgement decides on the old policy (S1).
/// </summary>
internal sealed partial class StoreGrain(
    [PersistentState("store", StorageNames.Consent)] IPersistentState<StoreState> state,
    [PersistentState("storestats", StorageNames.Consent)] IPersistentState<StoreStats> stats,
    TimeProvider time,
    IOptions<ConsentClusterOptions> options,
    ISubjectIndexSource index,
    UnresponsiveHolders unresponsive,
    RegisteredHolders registered,
    IStatsHistoryStore history,
    IOptions<StatsHistoryOptions> historyOptions,
    ILogger<StoreGrain> logger) : Grain, IStoreGrain, ILeaseFailureLog
{
    private readonly StatsSnapshots _snapshots = new(history, time, logger);

    private AbsenceIndex _absence = null!;
    private Task? _indexRead;
    private long _activatedAt;

    // The policy as stored: what leases and reads hand out. state.State holds a publish's new version while its
    // write is out, which interleaving lease requests must never see.
    private StorePolicy? _committed;

    private readonly Dictionary<string, long> _leaseExpiries = new(StringComparer.Ordinal);
    private readonly TimeSpan _lease = options.Value.PolicyLease;

    // Leases handed out by an earlier activation of this store (on a silo that may have died) are unknown
    // to this one; a publish waits until they must have expired.
    private long _unknownLeasesUntil;

    private string StoreId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists)
        {
            _unknownLeasesUntil = time.GetTimestamp() + time.TimestampTicks(_lease);
        }

        _committed = state.State.Policy;
        _activatedAt = time.GetTimestamp();
        _absence = new AbsenceIndex(time, options.Value.DecisionLease, new LeaseGrants(
            time, options.Value.DecisionLeaseRevokeTimeout, registered, unresponsive, this));
        _absence.Activated();
        ReadIndex();
        var interval = historyOptions.Value.Interval;
        this.RegisterGrainTimer(
            cancellation => _snapshots.TakeAsync(StoreId, stats.State, PersistStats, cancellation), interval, interval);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Reads the subjects with a record in the background; absence leases are granted once it is done. A subject
    /// whose first write commits meanwhile marks itself after its commit, so the union misses none. The read
    /// starts only once the absence leases of an earlier activation must have run out: a subject the read finds
    /// is not announced to their holders (its own mark, arriving later, finds it present), so none may be left.
    /// </summary>
    private void ReadIndex()
    {
        if (_absence.Indexed || _indexRead is { IsCompleted: false })
        {
            return;
        }

        _indexRead = ReadIndexAsync();

        async Task ReadIndexAsync()
        {
            try
            {
                await time.DelayUntilAsync(_activatedAt + time.TimestampTicks(options.Value.DecisionLease));

                _absence.Loaded(await index.SubjectsWithRecordsAsync(StoreId, CancellationToken.None));
            }
            catch (Exception exception)
            {
                // Edges go on asking the subject grains; the next absence lease request tries again.
                LogIndexFailed(exception, StoreId);
            }
        }
    }

    void ILeaseFailureLog.LeaseCallFailed(Exception exception, string what) => LogLeaseCallFailed(exception, StoreId, what);

    public Task<AbsenceLease> LeaseAbsence(IDecisionLeaseHolder holder, Guid epoch, int since)
    {
        ReadIndex();
        return Task.FromResult(_absence.Lease(holder, _committed, epoch, since));
    }

    public Task<TimeSpan> MarkPresent(string subjectId, bool restrictive)
    {
        var storeId = StoreId;
        return _absence.MarkPresentAsync(subjectId, restrictive, holder => holder.AddPresent(storeId, subjectId));
    }

    /// <summary>Statistics are not consent: a crash may lose the counts of up to this long.</summary>
    private static readonly TimeSpan StatsPersistInterval = TimeSpan.FromSeconds(10);

    private DateTimeOffset _statsPersistedAt;

    public Task<StorePolicy?> GetPolicy() => Task.FromResult(_committed);

    public Task<StoreStats> GetStats() => Task.FromResult(stats.State);

    public async Task MergeStats(Dictionary<Purpose, PurposeStats> delta)
    {
        var now = time.GetUtcNow();
        stats.State = stats.State.Add(delta, now);
        Feed.Publish([new FeedEvent(FeedEventType.StatsChanged, now, Stats: stats.State)]).Ignore();
        if (now - _statsPersistedAt >= StatsPersistInterval)
        {
            await PersistStats();
        }
    }

    private Task PersistStats()
    {
        _statsPersistedAt = time.GetUtcNow();
        return stats.WriteStateAsync();
    }

    private IStoreFeedGrain Feed => GrainFactory.GetGrain<IStoreFeedGrain>(StoreId);

    public Task<PolicyLease> AcquirePolicyLease(string subjectId, bool present)
    {
        _leaseExpiries[subjectId] = time.GetTimestamp() + time.TimestampTicks(_lease);
        var policy = _committed;
        return present && !_absence.Contains(subjectId) ? MarkedAsync()
            : Task.FromResult(new PolicyLease(policy, _lease, NoRecordLeased: !present && _absence.NoRecordLeased(subjectId)));

        async Task<PolicyLease> MarkedAsync()
        {
            // A repair of the index (no write waits on it): holders are told, an unreachable one is not waited for,
            // so that an activation never stalls on a dead edge; the subject learns how long to count it.
            var absentViewFor = await MarkPresent(subjectId, restrictive: false);
            return new PolicyLease(policy, _lease, absentViewFor);
        }
    }

    public Task ReleasePolicyLease(string subjectId)
    {
        _leaseExpiries.Remove(subjectId);
        return Task.CompletedTask;
    }

    public async Task<PolicyPublishResult> PublishPolicy(PolicyUpdate update)
    {
        var current = _committed;
        if (current is not null && update.Version <= current.Version)
        {
            return new PolicyPublishResult(PolicyPublishStatus.VersionNotIncreasing, current);
        }

        if (!update.SellerAttestation && update.Purposes.Any(p => p.Value.Enabled && p.Key.RequiresSellerAttestation()))
        {
            return new PolicyPublishResult(PolicyPublishStatus.SellerAttestationRequired, current);
        }

        var materialChanges = current?.MaterialChangeVersions ?? ImmutableDictionary<Purpose, int>.Empty;
        foreach (var (purpose, setting) in update.Purposes)
        {
            if (setting.MaterialChange)
            {
                materialChanges = materialChanges.SetItem(purpose, update.Version);
            }
        }

        var policy = new StorePolicy(
            update.Version, update.Status, update.SellerAttestation, update.Purposes, materialChanges, time.GetUtcNow());
        await state.PersistAsync(state.State with { Policy = policy, History = state.State.History.Add(policy) }, this, "policy");
        _committed = policy;

        await PushToLeaseHolders(policy);
        // Absence leases carry the policy too.
        var storeId = StoreId;
        await _absence.SettleAsync(await _absence.RevokeAsync(holder => holder.RevokeAbsence(storeId)));
        Feed.Publish([new FeedEvent(FeedEventType.PolicyChanged, policy.PublishedAt, Policy: policy)]).Ignore();
        return new PolicyPublishResult(PolicyPublishStatus.Published, policy);
    }

    private async Task PushToLeaseHolders(StorePolicy policy)
    {
        var now = time.GetTimestamp();
        var holders = new List<KeyValuePair<string, long>>(_leaseExpiries.Count);
        foreach (var holder in _leaseExpiries)
        {
            if (holder.Value > now)
            {
                holders.Add(holder);
            }
        }

        if (holders.Count != _leaseExpiries.Count)
        {
            _leaseExpiries.Clear();
            foreach (var (subjectId, expiry) in holders)
            {
                _leaseExpiries[subjectId] = expiry;
            }
        }

        var storeId = StoreId;
        var timeout = options.Value.PolicyPushTimeout;
        var unreached = await Task.WhenAll(holders.Select(async holder =>
        {
            try
            {
                await GrainFactory.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, holder.Key))
                    .OnPolicyChanged(policy).WaitAsync(timeout, time);
                return 0L;
            }
            catch (Exception exception)
            {
                LogPushFailed(exception, storeId, policy.Version);
                return holder.Value;
            }
        }));

        await time.DelayUntilAsync(Math.Max(_unknownLeasesUntil, unreached.DefaultIfEmpty(0L).Max()));

        LogPublished(storeId, policy.Version, holders.Count);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: a lease holder did not take policy {Version}; waiting for its lease to expire")]
    private partial void LogPushFailed(Exception exception, string storeId, int version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: {What}")]
    private partial void LogLeaseCallFailed(Exception exception, string storeId, string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: the subject index could not be read; no absence leases until it is")]
    private partial void LogIndexFailed(Exception exception, string storeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {StoreId}: policy {Version} published to {Holders} lease holders")]
    private partial void LogPublished(string storeId, int version, int holders);
}
