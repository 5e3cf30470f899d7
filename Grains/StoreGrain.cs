using Orleans.Runtime;
using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Grains.Leases;

namespace ShopAstro.Grains;

[GenerateSerializer, Immutable, Alias("shopastro.StoreState")]
public sealed record StoreState
{
    [Id(0)] public StorePolicy? Policy { get; init; }

    /// <summary>Every version ever published, oldest first: which purposes changed materially when.</summary>
    [Id(1)] public ImmutableList<StorePolicy> History { get; init; } = [];
}

/// <summary>
/// Holds a store's policy and hands it to subject grains as leases. A publish is acknowledged only once
/// every lease holder has the new version or its lease has expired, so no check that starts after the
/// acknowledgement decides on the old policy.
/// </summary>
internal sealed partial class StoreGrain(
    [PersistentState("store", StorageNames.Consent)] IPersistentState<StoreState> state,
    [PersistentState("storestats", StorageNames.Consent)] IPersistentState<StoreStats> stats,
    TimeProvider time,
    IOptions<ConsentClusterOptions> options,
    ISubjectIndexSource index,
    ILogger<StoreGrain> logger) : Grain, IStoreGrain
{
    // The subject index: every subject of the store with a stored record (read from storage at activation, then
    // added to as subjects are first written; never shrunk, so it may also name subjects erased since). Edges
    // hold it as absence leases and decide every other subject themselves, without activating its grain.
    private readonly HashSet<string> _present = new(StringComparer.Ordinal);
    private readonly List<string> _presentLog = [];
    private readonly Guid _epoch = Guid.NewGuid();
    private readonly GrantedLeases _absenceLeases = new(time, options.Value.DecisionLeaseRevokeTimeout, logger);
    private Task? _indexRead;
    private bool _indexed;
    private long _activatedAt;

    private readonly Dictionary<string, long> _leaseExpiries = new(StringComparer.Ordinal);
    private readonly TimeSpan _lease = options.Value.PolicyLease;

    // Leases handed out by an earlier activation of this store (on a silo that may have died) are unknown
    // to this one; a publish waits until they must have expired.
    private long _unknownLeasesUntil;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.RecordExists)
        {
            _unknownLeasesUntil = time.GetTimestamp() + time.TimestampTicks(_lease);
        }

        _activatedAt = time.GetTimestamp();
        _absenceLeases.Activated(options.Value.DecisionLease);
        ReadIndex();
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
        if (_indexed || _indexRead is { IsCompleted: false })
        {
            return;
        }

        _indexRead = ReadIndexAsync();

        async Task ReadIndexAsync()
        {
            try
            {
                var earlierLeasesEnd = _activatedAt + time.TimestampTicks(options.Value.DecisionLease);
                if (time.GetTimestamp() < earlierLeasesEnd)
                {
                    await Task.Delay(time.GetElapsedTime(time.GetTimestamp(), earlierLeasesEnd), time);
                }

                foreach (var subjectId in await index.SubjectsWithRecordsAsync(this.GetPrimaryKeyString(), CancellationToken.None))
                {
                    if (_present.Add(subjectId))
                    {
                        _presentLog.Add(subjectId);
                    }
                }

                _indexed = true;
            }
            catch (Exception exception)
            {
                // Edges go on asking the subject grains; the next absence lease request tries again.
                LogIndexFailed(exception, this.GetPrimaryKeyString());
            }
        }
    }

    public Task<AbsenceLease> LeaseAbsence(IDecisionLeaseHolder holder, Guid epoch, int since)
    {
        if (!_indexed)
        {
            ReadIndex();
            return Task.FromResult(new AbsenceLease(null, _epoch, 0, [], false, TimeSpan.Zero));
        }

        var duration = options.Value.DecisionLease;
        _absenceLeases.Grant(holder, time.GetTimestamp() + time.TimestampTicks(duration));
        var delta = epoch == _epoch && since >= 0 && since <= _presentLog.Count;
        var present = delta ? _presentLog.GetRange(since, _presentLog.Count - since).ToArray() : _presentLog.ToArray();
        return Task.FromResult(new AbsenceLease(state.State.Policy, _epoch, _presentLog.Count, present, delta, duration));
    }

    public async Task MarkPresent(string subjectId, bool restrictive)
    {
        if (!_present.Add(subjectId))
        {
            return;
        }

        _presentLog.Add(subjectId);
        var storeId = this.GetPrimaryKeyString();
        // A first write may deny what an empty record allowed (a minor's cart): then the holders learn before it
        // is acknowledged, or their absence leases run out.
        var unreachedUntil = await _absenceLeases.CallAsync(
            GrainFactory, holder => holder.AddPresent(storeId, subjectId), keepLeases: true, storeId, subjectId);
        if (restrictive)
        {
            await _absenceLeases.SettleAsync(unreachedUntil);
        }
    }

    /// <summary>Statistics are not consent: a crash may lose the counts of up to this long.</summary>
    private static readonly TimeSpan StatsPersistInterval = TimeSpan.FromSeconds(10);

    private DateTimeOffset _statsPersistedAt;

    public Task<StorePolicy?> GetPolicy() => Task.FromResult(state.State.Policy);

    public Task<StoreStats> GetStats() => Task.FromResult(stats.State);

    public async Task MergeStats(Dictionary<Purpose, PurposeStats> delta)
    {
        var now = time.GetUtcNow();
        stats.State = stats.State.Add(delta, now);
        Feed.Publish([new FeedEvent(FeedEventType.StatsChanged, now, Stats: stats.State)]).Ignore();
        if (now - _statsPersistedAt >= StatsPersistInterval)
        {
            _statsPersistedAt = now;
            await stats.WriteStateAsync();
        }
    }

    private IStoreFeedGrain Feed => GrainFactory.GetGrain<IStoreFeedGrain>(this.GetPrimaryKeyString());

    public Task<PolicyLease> AcquirePolicyLease(string subjectId, bool present)
    {
        _leaseExpiries[subjectId] = time.GetTimestamp() + time.TimestampTicks(_lease);
        var lease = new PolicyLease(state.State.Policy, _lease);
        return present && !_present.Contains(subjectId) ? MarkedAsync() : Task.FromResult(lease);

        async Task<PolicyLease> MarkedAsync()
        {
            // A repair of the index (no write waits on it): holders are told, an unreachable one is not waited for,
            // so that an activation never stalls on a dead edge.
            await MarkPresent(subjectId, restrictive: false);
            return lease;
        }
    }

    public Task ReleasePolicyLease(string subjectId)
    {
        _leaseExpiries.Remove(subjectId);
        return Task.CompletedTask;
    }

    public async Task<PolicyPublishResult> PublishPolicy(PolicyUpdate update)
    {
        var current = state.State.Policy;
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

        await PushToLeaseHolders(policy);
        // Absence leases carry the policy too.
        var storeId = this.GetPrimaryKeyString();
        var unreachedUntil = await _absenceLeases.CallAsync(
            GrainFactory, holder => holder.RevokeAbsence(storeId), keepLeases: false, storeId, "*");
        await _absenceLeases.SettleAsync(unreachedUntil);
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

        var storeId = this.GetPrimaryKeyString();
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

        var waitUntil = Math.Max(_unknownLeasesUntil, unreached.DefaultIfEmpty(0L).Max());
        var remaining = time.GetElapsedTime(time.GetTimestamp(), waitUntil);
        if (waitUntil > time.GetTimestamp() && remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining, time);
        }

        LogPublished(storeId, policy.Version, holders.Count);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: a lease holder did not take policy {Version}; waiting for its lease to expire")]
    private partial void LogPushFailed(Exception exception, string storeId, int version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Store {StoreId}: the subject index could not be read; no absence leases until it is")]
    private partial void LogIndexFailed(Exception exception, string storeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {StoreId}: policy {Version} published to {Holders} lease holders")]
    private partial void LogPublished(string storeId, int version, int holders);
}
